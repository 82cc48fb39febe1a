"""The embedded AWS sandbox: moto's server on loopback, outliving any one command.

``deployforge --sandbox`` points every AWS target (and an S3 state backend) at
this emulator, so the quickstart can ``apply``, then ``plan``, then detect
drift as separate commands without an AWS account. The emulator runs as a
detached background process started by :func:`up`::

    python -m deployforge.providers.sandbox serve --root ROOT [--port N]

Files under ``ROOT`` (the project's ``.deployforge`` folder):

``sandbox.json``          ``{endpoint, pid, started_at, region, root, warnings}``, written by
                          the server once it listens; removed when it stops.
``sandbox-state.pickle``  the emulated AWS state, saved atomically (temporary file, fsync,
                          rename) within ``SAVE_INTERVAL`` of any request that can change
                          it (reads such as Describe*/List*/Get* cause no save) and on
                          SIGTERM, and restored when the server starts again.
``sandbox.log``           the server's output (restore warnings, errors).
``sandbox.lock``          serialises ``up`` and ``down`` of concurrent commands.

Persistence pickles moto's in-memory backends (one ``BackendDict`` per
service), all services in one object graph so cross-service references (an
autoscaling group's EC2 instances) stay shared. Checked to survive a
``down``/``up`` (moto 5.2): S3 buckets, objects and tags; EC2 security groups
and their rules, launch templates and instances; autoscaling groups (which keep
scaling against the restored EC2); CloudWatch alarms; ELBv2 load balancers,
target groups and listeners; Route 53 zones; Lambda functions and aliases;
DynamoDB tables and items; SQS queues; SNS topics; SSM parameters; Secrets
Manager secrets; KMS keys (an RSA signing key still signs); CloudWatch Logs
groups; IAM roles; RDS instances. Each save is loaded back once in memory
before it is written, so a service whose state would not restore is noticed
at save time, not at the next start. A service whose state moto cannot pickle
(or that would not load back) is left out of the file (logged once); it comes
back empty after a restart while the others are kept. If the saved file cannot be
restored (moto upgraded, file damaged), the server starts empty, moves the file
aside to ``sandbox-state.pickle.bad-<time>`` and reports a warning in
``SandboxInfo.warnings`` and the log. The pickle is only ever read from the
project's own ``.deployforge`` folder: treat that file like code.

Changing something out of band (what the drift demo does): the sandbox accepts
any credentials; :func:`sandbox_env` gives the variables. With the AWS CLI::

    export AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox AWS_DEFAULT_REGION=us-east-1
    aws --endpoint-url "$(deployforge sandbox endpoint)" \\
        s3api put-bucket-tagging --bucket my-bucket --tagging 'TagSet=[{Key=owner,Value=someone-else}]'

or from Python::

    import boto3
    from pathlib import Path
    from deployforge.providers import sandbox

    info = sandbox.status(Path(".deployforge"))
    env = sandbox.sandbox_env(info)
    ec2 = boto3.client("ec2", endpoint_url=info.endpoint, region_name=env["AWS_DEFAULT_REGION"],
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    ec2.authorize_security_group_ingress(GroupName="web", IpProtocol="tcp", FromPort=22, ToPort=22,
                                         CidrIp="0.0.0.0/0")

``sandbox_env`` also sets ``AWS_ENDPOINT_URL``, which boto3 (botocore >= 1.31)
and the AWS CLI v2 honour, so a client created in an environment updated with
it reaches the sandbox without an explicit endpoint::

    os.environ.update(sandbox.sandbox_env(info))
    boto3.client("s3").put_bucket_tagging(Bucket="my-bucket", Tagging={"TagSet": [...]})

Nothing in this module imports moto or boto3 until the server itself starts.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import io
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployforge.errors import SandboxError

REGION = "us-east-1"
ACCESS_KEY_ID = "sandbox"
SECRET_ACCESS_KEY = "sandbox"

INFO_FILE = "sandbox.json"
STATE_FILE = "sandbox-state.pickle"
LOG_FILE = "sandbox.log"
LOCK_FILE = "sandbox.lock"

START_TIMEOUT = 15.0  # seconds up() waits for a new server to answer
STOP_TIMEOUT = 10.0  # seconds down() waits after SIGTERM before SIGKILL
SAVE_INTERVAL = 1.0  # seconds between checks for changes to save
HEALTH_PATH = "/_deployforge/sandbox"  # answered by our middleware; no S3 bucket name starts with "_"
STATE_FORMAT = 1
_LOG_ROTATE_BYTES = 1 << 20

logger = logging.getLogger("deployforge.sandbox")


@dataclass(frozen=True)
class SandboxInfo:
    """A running sandbox: where it answers and which process it is."""

    endpoint: str
    pid: int
    started_at: float
    region: str
    root: Path
    warnings: tuple[str, ...] = field(default=())
    # the stand-ins beside moto (sandbox_clouds.py), None when their binaries are not installed
    google_endpoint: str | None = None
    google_key_file: str | None = None
    vault_addr: str | None = None
    vault_token: str | None = None

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    @property
    def log_file(self) -> Path:
        return self.root / LOG_FILE

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "pid": self.pid,
            "started_at": self.started_at,
            "region": self.region,
            "root": str(self.root),
            "warnings": list(self.warnings),
            "google_endpoint": self.google_endpoint,
            "google_key_file": self.google_key_file,
            "vault_addr": self.vault_addr,
            "vault_token": self.vault_token,  # a dev server's root token, in a 0600 file of the project
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], root: Path) -> SandboxInfo:
        return cls(
            endpoint=str(data["endpoint"]),
            pid=int(data["pid"]),
            started_at=float(data["started_at"]),
            region=str(data.get("region") or REGION),
            root=root,
            warnings=tuple(str(w) for w in data.get("warnings", ())),
            google_endpoint=data.get("google_endpoint"),
            google_key_file=data.get("google_key_file"),
            vault_addr=data.get("vault_addr"),
            vault_token=data.get("vault_token"),
        )


# == public API (runs in the user's command) ==========================================


def sandbox_env(info: SandboxInfo) -> dict[str, str]:
    """Environment variables that point boto3 / the AWS CLI at the sandbox with fake credentials."""
    no_proxy = ",".join(p for p in (os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost") if p)
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": info.region,
        "AWS_REGION": info.region,
        "AWS_ENDPOINT_URL": info.endpoint,
        "NO_PROXY": no_proxy,
    }


def status(root: Path) -> SandboxInfo | None:
    """The sandbox running for ``root``, or None. Verifies the process answers as that sandbox."""
    root = Path(root).resolve()
    info = _read_info(root)
    if info is None or not _pid_alive(info.pid):
        return None
    health = _health(info.endpoint)
    if health is None or health.get("pid") != info.pid:
        return None
    return info


def up(root: Path, *, port: int = 0, timeout: float = START_TIMEOUT) -> SandboxInfo:
    """Start the sandbox for ``root`` in the background (or return the one already running).

    ``port`` 0 picks a free loopback port. Raises ``SandboxError`` (with the
    server log's last lines) if it does not answer within ``timeout`` seconds;
    the half-started process is then stopped.
    """
    root = Path(root).resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SandboxError(f"cannot create the sandbox folder {root}: {exc.strerror}") from None
    with _root_lock(root):
        running = status(root)
        if running is not None:
            return running
        _require_moto()
        _remove(root / INFO_FILE)
        proc = _spawn(root, port)
        return _wait_until_ready(root, proc, timeout)


def ensure_running(root: Path) -> SandboxInfo:
    """The running sandbox for ``root``, starting it if needed."""
    return status(root) or up(root)


def down(root: Path, *, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the sandbox for ``root``, saving its state. False if none was running.

    Sends SIGTERM (the server saves its state and exits) and waits up to
    ``timeout`` seconds, then SIGKILLs it (changes since the last periodic
    save are then lost).
    """
    root = Path(root).resolve()
    if not root.is_dir():
        return False
    with _root_lock(root):
        info = _read_info(root)
        if info is None:
            return False
        if not _pid_alive(info.pid) or not _is_our_server(info):
            _remove(root / INFO_FILE)
            return False
        try:
            os.kill(info.pid, signal.SIGTERM)
        except ProcessLookupError:
            _remove(root / INFO_FILE)
            return False
        if not _wait_exit(info.pid, timeout):
            logger.warning("sandbox pid %s did not stop within %.0f s; killing it", info.pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)
            # its process group: the Google stand-ins' fake-gcs-server and OpenBao run in it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(info.pid, signal.SIGKILL)
            if not _wait_exit(info.pid, 5.0):
                raise SandboxError(
                    f"the sandbox process {info.pid} does not stop",
                    hint=f"kill it by hand: kill -9 {info.pid}",
                )
        _remove(root / INFO_FILE)
        return True


# == helpers for the user's side ======================================================

# Servers started by this process: they are our children, so they must be reaped (a
# zombie still answers os.kill(pid, 0)).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _require_moto() -> None:
    import importlib.util

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        import os

        in_action = os.environ.get("GITHUB_ACTIONS") == "true" and os.path.isdir("/opt/deployforge")
        raise SandboxError(
            "the AWS sandbox needs moto's server, which is not installed"
            + (" (the Action's image leaves it out to stay small)" if in_action else ""),
            hint="run moto as the job's service container (services: {moto: {image: motoserver/moto}}) and point "
            "the targets at it with endpoint_url: http://moto:5000"
            if in_action
            else "install it into DeployForge's environment: pip install 'moto[server]'",
        )


@contextlib.contextmanager
def _root_lock(root: Path) -> Iterator[None]:
    """Serialise up/down of concurrent commands on one root (advisory flock where available)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process serialisation
        yield
        return
    try:
        handle = open(root / LOCK_FILE, "a+b")  # noqa: SIM115 - held for the duration of the block
    except OSError as exc:
        raise SandboxError(f"cannot open {root / LOCK_FILE}: {exc.strerror}") from None
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read_info(root: Path) -> SandboxInfo | None:
    try:
        data = json.loads((root / INFO_FILE).read_text(encoding="utf-8"))
        return SandboxInfo.from_json(data, root)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # half-written or damaged: treated as "not running"; up() rewrites it


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _pid_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not running
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return not _pid_alive(pid)


def _health(endpoint: str, timeout: float = 2.0) -> dict[str, Any] | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(endpoint + HEALTH_PATH, timeout=timeout) as response:
            data = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) and data.get("service") == "deployforge-sandbox" else None


def _is_our_server(info: SandboxInfo) -> bool:
    """Whether ``info.pid`` is this root's sandbox server (and not a recycled pid)."""
    health = _health(info.endpoint)
    if health is not None:
        return health.get("pid") == info.pid
    try:  # not answering (hung?): recognise it by its command line
        argv = Path(f"/proc/{info.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"deployforge.providers.sandbox" in argv and os.fsencode(str(info.root)) in argv


def _log_tail(root: Path, lines: int = 20) -> str:
    try:
        text = (root / LOG_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    tail = text.splitlines()[-lines:]
    return "\n".join("    " + line for line in tail) if tail else "(the log is empty)"


def _spawn(root: Path, port: int) -> subprocess.Popen[bytes]:
    log_path = root / LOG_FILE
    with contextlib.suppress(OSError):
        if log_path.stat().st_size > _LOG_ROTATE_BYTES:
            os.replace(log_path, log_path.with_name(LOG_FILE + ".1"))
    package_parent = str(Path(__file__).resolve().parents[2])  # the folder holding `deployforge/`
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    env.pop("AWS_PROFILE", None)  # moto's region listing builds a botocore session; a bad profile breaks it
    env.pop("AWS_DEFAULT_PROFILE", None)
    env.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    env.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    command = [
        sys.executable,
        "-m",
        "deployforge.providers.sandbox",
        "serve",
        "--root",
        str(root),
        "--port",
        str(port),
    ]
    try:
        with open(log_path, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(command)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=root,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
    except OSError as exc:
        raise SandboxError(f"cannot start the sandbox server: {exc}") from None
    _children[proc.pid] = proc
    return proc


def _wait_until_ready(root: Path, proc: subprocess.Popen[bytes], timeout: float) -> SandboxInfo:
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            _children.pop(proc.pid, None)
            raise SandboxError(
                f"the sandbox server exited with code {code} while starting; its log ends with:\n{_log_tail(root)}",
                hint=f"full log: {root / LOG_FILE}",
            )
        info = _read_info(root)
        if info is not None and info.pid == proc.pid:
            health = _health(info.endpoint, timeout=1.0)
            if health is not None and health.get("pid") == proc.pid:
                return info
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    _children.pop(proc.pid, None)
    _remove(root / INFO_FILE)
    raise SandboxError(
        f"the sandbox server did not answer within {timeout:.0f} s; its log ends with:\n{_log_tail(root)}",
        hint=f"full log: {root / LOG_FILE}; a slow machine may need a longer start timeout",
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


class _BackendUnpickler(pickle.Unpickler):
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


class _TrialUnpickler(pickle.Unpickler):
    """Loads a just-written payload to prove it can be restored, without touching live backends."""

    def persistent_load(self, pid: Any) -> Any:
        return _Placeholder(pid)


class _Placeholder:
    def __init__(self, pid: Any):
        self.pid = pid


Service = tuple[str, str]  # (module, attribute) naming a moto BackendDict global


class _Persistence:
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
            _remove(Path(tmp))
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


# == the server process ===============================================================


class _ReadWriteLock:
    """Many requests at once (shared), or one save (exclusive); a waiting save goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self, timeout: float) -> Iterator[bool]:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                acquired = not (self._writer or self._readers)
                if acquired:
                    self._writer = True
            finally:
                self._writers_waiting -= 1
                self._cond.notify_all()
        try:
            yield acquired
        finally:
            if acquired:
                with self._cond:
                    self._writer = False
                    self._cond.notify_all()


_READ_ACTION_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Query", "Scan")


def _may_change_state(environ: dict[str, Any]) -> bool:
    """False for requests that only read (so read-heavy plan / drift runs cause no saves).

    REST reads are GET/HEAD; JSON-protocol services name the action in
    ``X-Amz-Target``; query-protocol services (EC2, autoscaling, CloudWatch...)
    in the form body's ``Action``. Anything unrecognised counts as a change.
    """
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return not str(target).rpartition(".")[2].startswith(_READ_ACTION_PREFIXES)
    action = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", ""))).get("Action")
    if not action and str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        if length >= 0:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
    if action:
        return not action[0].startswith(_READ_ACTION_PREFIXES)
    return True


class _Server:
    def __init__(self, root: Path, port: int):
        self.root = root
        self.port = port
        self.persistence = _Persistence(root)
        self.lock = _ReadWriteLock()
        self.dirty = False
        self.stopping = threading.Event()
        self.restored_ok = False
        self.httpd: Any = None

    def app(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        health = json.dumps({"service": "deployforge-sandbox", "pid": os.getpid(), "root": str(self.root)}).encode()

        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == HEALTH_PATH:
                start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(health)))])
                return [health]
            changes = _may_change_state(environ)  # before moto consumes the request body
            with self.lock.shared():
                result = inner(environ, start_response)
                try:
                    body = list(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                if changes:
                    self.dirty = True
            return body

        return application

    def save(self, *, final: bool) -> None:
        """Save the backends if there is anything new; ``final`` waits longer and saves regardless."""
        if not self.restored_ok:
            return  # never overwrite a saved state this process did not load
        blob: bytes | None = None
        for _ in range(3):
            with self.lock.exclusive(timeout=STOP_TIMEOUT / 2 if final else 1.0) as acquired:
                if not acquired and not final:
                    return  # a long request is running; try again at the next interval
                self.dirty = False
                try:
                    blob = self.persistence.dump()
                    break
                except RuntimeError as exc:  # "changed size during iteration": only possible unlocked
                    logger.warning("saving the sandbox state failed (%s); retrying", exc)
                    self.dirty = True
                except Exception:
                    logger.exception("saving the sandbox state failed")
                    self.dirty = True
                    return
        if blob is None:
            return
        try:
            self.persistence.save(blob)
        except OSError as exc:
            logger.error("cannot write %s: %s", self.persistence.path, exc.strerror)
            self.dirty = True

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: self.stopping.set())
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        self.persistence.restore()
        self.restored_ok = True
        if self.stopping.is_set():
            return 0
        try:
            self.httpd = make_server(
                "127.0.0.1",
                self.port,
                self.app(DomainDispatcherApplication(create_backend_app)),
                threaded=True,
            )
        except (OSError, SystemExit) as exc:  # werkzeug prints "Address already in use" and exits
            logger.error(
                "cannot listen on 127.0.0.1:%s: %s",
                self.port,
                getattr(exc, "strerror", None) or "the port is taken or not allowed",
            )
            return 1
        host, port = self.httpd.server_address[:2]
        os.environ["MOTO_PORT"] = str(port)  # moto builds some URLs (SQS queues, ...) from it
        from deployforge.providers import sandbox_clouds

        clouds = sandbox_clouds.start(self.root)  # Google stand-ins and OpenBao, when installed
        info = SandboxInfo(
            endpoint=f"http://{host}:{port}",
            pid=os.getpid(),
            started_at=time.time(),
            region=REGION,
            root=self.root,
            warnings=(*self.persistence.warnings, *clouds.warnings),
            google_endpoint=clouds.google_endpoint,
            google_key_file=clouds.google_key_file,
            vault_addr=clouds.vault_addr,
            vault_token=clouds.vault_token,
        )
        thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-http", daemon=True
        )
        thread.start()
        _write_json_atomic(self.root / INFO_FILE, info.to_json())
        logger.info("sandbox listening on %s (pid %s)", info.endpoint, info.pid)

        while not self.stopping.wait(SAVE_INTERVAL):
            if self.dirty:
                self.save(final=False)

        logger.info("stopping: saving the sandbox state")
        clouds.stop()
        self.httpd.shutdown()
        thread.join(5)
        self.save(final=True)
        self.httpd.server_close()
        current = _read_info(self.root)
        if current is not None and current.pid == os.getpid():
            _remove(self.root / INFO_FILE)
        logger.info("sandbox stopped")
        return 0


def _write_json_atomic(path: Path, data: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(Path(tmp))
        raise


def serve(root: Path, port: int = 0) -> int:
    """Run the sandbox server in this process until SIGTERM/SIGINT; returns the exit status."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return _Server(Path(root).resolve(), port).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deployforge.providers.sandbox",
        description="Run DeployForge's AWS sandbox server (started by `up`).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the moto server in the foreground")
    serve_cmd.add_argument("--root", required=True, type=Path, help="the folder holding sandbox.json")
    serve_cmd.add_argument("--port", type=int, default=0, help="loopback port (0: any free port)")
    args = parser.parse_args(argv)
    return serve(args.root, args.port)


if __name__ == "__main__":
    status_code = main()
    # The state is saved and every file closed: skip tearing down moto's millions of objects
    # (about a second), so `down` returns promptly.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status_code)
