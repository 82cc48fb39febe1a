"""boto3 sessions that share one botocore data loader per process.

Every ``boto3.session.Session()`` gets its own loader, and a loader parses each API model it is
asked for (ec2's is 5 MB of JSON, 0.2-0.3 s) once per *session*. A command builds several sessions
(one per target and region, the state and audit stores, KMS signing), and a test worker or a
long-running ``drift watch`` builds many: with one shared loader each model is parsed once per
process. The loader only reads botocore's bundled data files; its cache holds no credentials.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_loader: Any = None


def _shared_loader() -> Any:
    global _loader
    with _lock:
        if _loader is None:
            import botocore.session

            _loader = botocore.session.get_session().get_component("data_loader")
        return _loader


def new_session(**kwargs: Any) -> Any:
    """``boto3.session.Session(**kwargs)`` whose API models come from the process's shared loader."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    return boto3.session.Session(botocore_session=core, **kwargs)
