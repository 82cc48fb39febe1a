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

The package: this module is what a user's command runs (start, find, stop the server);
``persistence`` saves and restores moto's backends and ``server`` is the background process (both
run only in the server, which ``__main__`` starts); ``clouds`` starts the Google stand-ins and
OpenBao beside moto. Nothing here imports moto or boto3 until the server itself starts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
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
    # the stand-ins beside moto (clouds.py), None when their binaries are not installed
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
    info = read_info(root)
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
        remove_file(root / INFO_FILE)
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
        info = read_info(root)
        if info is None:
            return False
        if not _pid_alive(info.pid) or not _is_our_server(info):
            remove_file(root / INFO_FILE)
            return False
        try:
            os.kill(info.pid, signal.SIGTERM)
        except ProcessLookupError:
            remove_file(root / INFO_FILE)
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
        remove_file(root / INFO_FILE)
        return True


# == helpers for the user's side ======================================================

# Servers started by this process: they are our children, so they must be reaped (a
# zombie still answers os.kill(pid, 0)).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _require_moto() -> None:
    import importlib.util

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        import os

        from deployforge.ci.platform import GITHUB_ACTIONS, detect

        in_action = detect(os.environ) is GITHUB_ACTIONS and os.path.isdir("/opt/deployforge")
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


def read_info(root: Path) -> SandboxInfo | None:
    try:
        data = json.loads((root / INFO_FILE).read_text(encoding="utf-8"))
        return SandboxInfo.from_json(data, root)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # half-written or damaged: treated as "not running"; up() rewrites it


def remove_file(path: Path) -> None:
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
    import deployforge

    package_parent = str(Path(deployforge.__file__).resolve().parents[1])  # the folder holding `deployforge/`
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
        info = read_info(root)
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
    remove_file(root / INFO_FILE)
    raise SandboxError(
        f"the sandbox server did not answer within {timeout:.0f} s; its log ends with:\n{_log_tail(root)}",
        hint=f"full log: {root / LOG_FILE}; a slow machine may need a longer start timeout",
    )
