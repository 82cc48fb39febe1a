"""Saving and restoring moto's in-memory backends (runs in the sandbox server process).

See the package docstring for what is saved, when, and what happens when a file cannot be restored.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import os
import pickle
import sys
import tempfile
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from deployforge.providers.sandbox import (
    STATE_FILE,
    STATE_FORMAT,
    logger,
    remove_file,
)

# == persistence of moto's backends (runs in the server process) =======================


class _TemplateFactory:
    """A picklable stand-in for a ``defaultdict`` factory that is a lambda returning an empty container."""

    def __init__(self, template: Any):
        self.template = template

    def __call__(self) -> Any:
        return copy.deepcopy(self.template)


def _new_defaultdict(kind: type[defaultdict[Any, Any]], factory: Any) -> defaultdict[Any, Any]:
    """An empty ``defaultdict`` (or subclass) without calling the subclass's ``__init__``."""
    obj = defaultdict.__new__(kind)
    obj.default_factory = factory
    return obj


def _new_lock(reentrant: bool) -> Any:
    return threading.RLock() if reentrant else threading.Lock()


def _load_private_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem, password=None)


_LOCK_TYPE = type(threading.Lock())
_RLOCK_TYPE = type(threading.RLock())


def _is_local_function(func: Any) -> bool:
    qualname = getattr(func, "__qualname__", "")
    return callable(func) and ("<lambda>" in qualname or "<locals>" in qualname)


class _BackendPickler(pickle.Pickler):
    """Pickles moto backends.

    Module-level ``BackendDict`` objects (and their per-account dicts) are
    written as references, so restored backends keep pointing at the live
    globals. ``refs`` maps ``id(obj)`` of such objects (and of backends left out
    of the file) to a persistent id. Locks are recreated fresh, private keys
    go through PEM, and ``defaultdict`` factories that are lambdas returning
    an empty container are replaced by an equivalent picklable factory.
    """

    def __init__(self, file: io.BytesIO, refs: dict[int, tuple[str, ...]]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.refs = refs

    def persistent_id(self, obj: Any) -> tuple[str, ...] | None:
        return self.refs.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is _RLOCK_TYPE:
            return _new_lock, (True,)
        if kind is _LOCK_TYPE:
            return _new_lock, (False,)
        if kind is weakref.WeakValueDictionary:
            return weakref.WeakValueDictionary, (), None, None, iter(list(obj.items()))
        if isinstance(obj, defaultdict):
            factory = obj.default_factory
            if factory is not None and _is_local_function(factory):
                template = factory()
                if not (isinstance(template, dict | list | set) and not template):
                    return NotImplemented  # a factory with behaviour: cannot be replaced, fails below
                factory = _TemplateFactory(template)
            elif kind is defaultdict:
                return NotImplemented
            # Subclasses (moto's ParameterDict...) have their own __init__; rebuild without it.
            return (
                _new_defaultdict,
                (kind, factory),
                getattr(obj, "__dict__", None) or None,
                None,
                iter(list(obj.items())),
            )
        if kind.__module__.startswith("cryptography") and hasattr(obj, "private_bytes"):
            from cryptography.hazmat.primitives import serialization

            pem = obj.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _load_private_key, (pem,)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    """Reads files saved before the sandbox became a package: they name this module's helpers
    (``_TemplateFactory``, ``_new_lock`` ...) as ``deployforge.providers.sandbox.<name>``."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "deployforge.providers.sandbox" and name.startswith("_") and name in globals():
            return globals()[name]
        return super().find_class(module, name)


class _BackendUnpickler(_Unpickler):
    """Resolves the persistent ids written by ``_BackendPickler`` to moto's live globals."""

    def persistent_load(self, pid: Any) -> Any:
        kind, module, attr, *rest = pid
        backend_dict = getattr(importlib.import_module(module), attr)
        if kind == "dict":
            return backend_dict
        if kind == "account":
            return backend_dict[rest[0]]
        if kind == "backend":
            return backend_dict[rest[0]][rest[1]]
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


class _TrialUnpickler(_Unpickler):
    """Loads a just-written payload to prove it can be restored, without touching live backends."""

    def persistent_load(self, pid: Any) -> Any:
        return _Placeholder(pid)


class _Placeholder:
    def __init__(self, pid: Any):
        self.pid = pid


Service = tuple[str, str]  # (module, attribute) naming a moto BackendDict global


class Persistence:
    """Saves and restores the server process's moto backends to ``root/sandbox-state.pickle``."""

    def __init__(self, root: Path):
        self.path = root / STATE_FILE
        self._names: dict[int, Service] = {}
        self._excluded: set[Service] = set()
        self.warnings: list[str] = []

    # -- discovery ---------------------------------------------------------------------

    def _name_of(self, backend_dict: Any) -> Service | None:
        known = self._names.get(id(backend_dict))
        if known is not None:
            return known
        home = getattr(getattr(backend_dict, "backend", None), "__module__", "")
        candidates: list[str] = [home] if home in sys.modules else []
        candidates += sorted(name for name in list(sys.modules) if name.startswith("moto.") and name != home)
        for module_name in candidates:
            module = sys.modules.get(module_name)
            if module is None:
                continue
            for attr, value in list(vars(module).items()):
                if value is backend_dict:
                    self._names[id(backend_dict)] = (module_name, attr)
                    return module_name, attr
        return None

    def _live(self) -> dict[Service, Any]:
        from moto.core.base_backend import BackendDict

        live: dict[Service, Any] = {}
        instances: list[Any] = list(BackendDict._instances)  # type: ignore[misc]  # the ones holding data
        for backend_dict in instances:
            name = self._name_of(backend_dict)
            if name is not None:
                live[name] = backend_dict
        return live

    # -- saving ------------------------------------------------------------------------

    @staticmethod
    def _contents(backend_dict: Any) -> dict[str, dict[str, Any]]:
        return {
            account: dict(dict.items(regions)) for account, regions in list(dict.items(backend_dict)) if len(regions)
        }

    def _refs(self, live: dict[Service, Any], by_reference: Iterable[Service]) -> dict[int, tuple[str, ...]]:
        refs: dict[int, tuple[str, ...]] = {}
        for (module, attr), backend_dict in live.items():
            refs[id(backend_dict)] = ("dict", module, attr)
            for account, regions in list(dict.items(backend_dict)):
                refs[id(regions)] = ("account", module, attr, account)
        for service in by_reference:
            module, attr = service
            for account, regions in self._contents(live[service]).items():
                for region, backend in regions.items():
                    refs[id(backend)] = ("backend", module, attr, account, region)
        return refs

    def _pickle(self, live: dict[Service, Any], included: set[Service]) -> bytes:
        """Pickle the included services as one object graph and prove the result loads again."""
        data = {service: self._contents(live[service]) for service in sorted(included)}
        data = {service: accounts for service, accounts in data.items() if accounts}
        buffer = io.BytesIO()
        _BackendPickler(buffer, self._refs(live, set(live) - included)).dump(data)
        payload = buffer.getvalue()
        _TrialUnpickler(io.BytesIO(payload)).load()
        return payload

    def dump(self) -> bytes:
        """The backends' state as bytes; services that cannot be pickled are left out (and logged)."""
        import moto

        live = self._live()
        services = {s for s, d in live.items() if self._contents(d)}
        included = services - self._excluded
        try:
            payload = self._pickle(live, included)
        except Exception:
            failing: dict[Service, str] = {}
            for service in sorted(included):
                try:
                    self._pickle(live, {service})
                except Exception as exc:
                    failing[service] = f"{type(exc).__name__}: {exc}"
            for service, reason in failing.items():
                logger.warning(
                    "the sandbox's %s state cannot be saved (%s); it will be empty after a restart",
                    service[1].removesuffix("_backends"),
                    reason,
                )
            self._excluded |= set(failing)
            included -= set(failing)
            payload = self._pickle(live, included)
        header = {
            "format": STATE_FORMAT,
            "moto_version": moto.__version__,
            "saved_at": time.time(),
            "services": sorted(f"{m}:{a}" for m, a in included),
            "excluded": sorted(f"{m}:{a}" for m, a in self._excluded),
        }
        return pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL) + payload

    def save(self, blob: bytes) -> None:
        """Write ``blob`` atomically: temporary file in the same folder, fsync, rename."""
        fd, tmp = tempfile.mkstemp(prefix=f".{STATE_FILE}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            remove_file(Path(tmp))
            raise

    # -- restoring ---------------------------------------------------------------------

    def restore(self) -> bool:
        """Load the saved state into moto's backends; on any failure start empty. True if restored."""
        import moto

        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return False
        except OSError as exc:
            self._set_aside(f"cannot open it: {exc.strerror}")
            return False
        try:
            with handle:
                header = pickle.load(handle)
                if not isinstance(header, dict) or header.get("format") != STATE_FORMAT:
                    raise ValueError("it is not a DeployForge sandbox state file")
                if header.get("moto_version") != moto.__version__:
                    raise ValueError(
                        f"it was saved by moto {header.get('moto_version')} and this is moto {moto.__version__}"
                    )
                data = _BackendUnpickler(handle).load()
            self._install(data)
        except Exception as exc:
            self._reset()
            self._set_aside(f"{type(exc).__name__}: {exc}")
            return False
        logger.info(
            "restored the sandbox state saved at %s (%s)",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(header.get("saved_at", 0))),
            ", ".join(s.rpartition(":")[2].removesuffix("_backends") for s in header["services"]) or "empty",
        )
        return True

    @staticmethod
    def _install(data: dict[Service, dict[str, dict[str, Any]]]) -> None:
        for (module, attr), accounts in data.items():
            backend_dict = getattr(importlib.import_module(module), attr)
            for account, regions in accounts.items():
                account_backends = backend_dict[account]
                for region, backend in regions.items():
                    dict.__setitem__(account_backends, region, backend)

    @staticmethod
    def _reset() -> None:
        from moto.core.base_backend import BackendDict

        with contextlib.suppress(Exception):
            BackendDict.reset()

    def _set_aside(self, reason: str) -> None:
        aside = self.path.with_name(f"{STATE_FILE}.bad-{time.strftime('%Y%m%dT%H%M%S')}")
        n = 1
        while aside.exists():
            aside = aside.with_name(f"{STATE_FILE}.bad-{time.strftime('%Y%m%dT%H%M%S')}-{n}")
            n += 1
        try:
            os.replace(self.path, aside)
            moved = f"the file was moved to {aside}"
        except OSError as exc:
            moved = f"it could not be moved aside ({exc.strerror}) and will be overwritten"
        message = f"could not restore the saved sandbox state ({reason}); started empty, {moved}"
        logger.warning(message)
        self.warnings.append(message)
