"""Traffic shifters: the cloud-neutral contract in base.py, one module per implementation."""
