"""``python -m deployforge.providers.sandbox serve --root ROOT [--port N]``: the server process."""

from __future__ import annotations

import logging
import os
import sys

from deployforge.providers.sandbox.server import main

if __name__ == "__main__":
    status_code = main()
    # The state is saved and every file closed: skip tearing down moto's millions of objects
    # (about a second), so `down` returns promptly.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status_code)
