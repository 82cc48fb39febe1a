from deployforge.cli.main import main

main()
