"""A sandbox state saved before the sandbox became a package still loads."""

from __future__ import annotations

import io
import pickle

from deployforge.providers.sandbox import persistence


def test_a_file_naming_the_old_module_loads() -> None:
    # protocol 2 names classes with text (GLOBAL 'module\nname'), as files saved by the old module did
    data = pickle.dumps(persistence._TemplateFactory({"a": [1]}), protocol=2)
    old = data.replace(b"deployforge.providers.sandbox.persistence\n", b"deployforge.providers.sandbox\n")
    assert old != data
    for unpickler in (persistence._BackendUnpickler, persistence._TrialUnpickler):
        loaded = unpickler(io.BytesIO(old)).load()
        assert isinstance(loaded, persistence._TemplateFactory) and loaded() == {"a": [1]}
