"""`dataops stack up | down | status`: a local production-like stack on loopback.

PostgreSQL (the machine's server: a cluster of our own made with its binaries, or a server given
by URL) holds three databases: governance, Dagster, MLflow. Redis, `mlflow server`,
`dagster-daemon`, `dagster-webserver` and two Celery workers run under supervisord from a
generated config: a service that dies is restarted (a killed Celery worker comes back; honcho
would stop the whole stack instead). Every process carries DATAOPS_STACK_ID in its environment,
inherited by whatever it spawns, so `down` stops exactly what `up` started and nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from dataops_platform.errors import DataOpsError, InvalidInput
from dataops_platform.settings import Settings
from dataops_platform.stack.config import write_stack_config
from dataops_platform.store.engine import has_schema

DATABASES = ("governance", "dagster", "mlflow")
WORKERS = ("worker1", "worker2")
HEALTH_TIMEOUT_S = 240.0
STACK_ID_ENV = "DATAOPS_STACK_ID"


@dataclass
class StackState:
    """What `up` started, kept in $DATAOPS_HOME/stack/stack.json for `status` and `down`."""

    stack_id: str
    ports: dict[str, int]
    postgres_admin_url: str
    own_postgres: bool
    databases: dict[str, str]
    postgres_data: str | None = None  # our own cluster's data directory
    manager_pid: int | None = None  # supervisord
    started_at: float = field(default_factory=time.time)

    def url(self, database: str, driver: str = "psycopg") -> str:
        base = make_url(self.postgres_admin_url).set(drivername=f"postgresql+{driver}", database=self.databases[database])
        return base.render_as_string(hide_password=False)

    def env(self, home: Path) -> dict[str, str]:
        """The settings every process of the stack runs with (and `dataops` commands against it)."""
        return {
            "DATAOPS_HOME": str(home),
            "DATAOPS_DATABASE_URL": self.url("governance"),
            "DATAOPS_DAGSTER_STORAGE_URL": self.url("dagster", "psycopg2"),
            "DATAOPS_MLFLOW_BACKEND_URL": self.url("mlflow"),
            "DATAOPS_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{self.ports['mlflow']}",
            "DATAOPS_CELERY_BROKER_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "DAGSTER_HOME": str(home / "stack" / "dagster"),
            "DATAOPS_DAGSTER_INSTANCE_DIR": str(home / "stack" / "dagster"),
        }

    @property
    def urls(self) -> dict[str, str]:
        return {
            "dagster_ui": f"http://127.0.0.1:{self.ports['webserver']}",
            "mlflow_ui": f"http://127.0.0.1:{self.ports['mlflow']}",
            "postgres": make_url(self.postgres_admin_url).render_as_string(hide_password=True),
            "redis": f"redis://127.0.0.1:{self.ports['redis']}/0",
        }


def stack_dir(home: Path) -> Path:
    return home / "stack"


def load_state(home: Path) -> StackState | None:
    path = stack_dir(home) / "stack.json"
    return StackState(**json.loads(path.read_text())) if path.exists() else None


def _save_state(home: Path, state: StackState) -> None:
    path = stack_dir(home) / "stack.json"
    path.write_text(json.dumps(asdict(state), indent=2) + "\n")


def stack_settings(home: Path, state: StackState) -> Settings:
    """Settings pointing at the running stack's services."""
    env = state.env(home)
    return Settings(
        home=home,
        database_url=env["DATAOPS_DATABASE_URL"],
        mlflow_tracking_uri=env["DATAOPS_MLFLOW_TRACKING_URI"],
        dagster_storage_url=env["DATAOPS_DAGSTER_STORAGE_URL"],
        mlflow_backend_url=env["DATAOPS_MLFLOW_BACKEND_URL"],
        celery_broker_url=env["DATAOPS_CELERY_BROKER_URL"],
        dagster_instance_dir=Path(env["DATAOPS_DAGSTER_INSTANCE_DIR"]),
    )


# -- ports and PostgreSQL ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: [int(x) for x in p.parent.name.split(".")])
    if not found:
        raise DataOpsError(
            "no PostgreSQL server on this machine: install it (Debian: apt-get install postgresql) "
            "or pass --postgres URL of a server to use"
        )
    return found[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _own_postgres_data(directory: Path, stack_id: str) -> Path:
    """Where our own cluster keeps its data: in the stack directory, or, when we are root (initdb
    then runs as `postgres`, who may not enter a private home), a directory of its own in /tmp."""
    if os.geteuid() != 0:
        return directory / "pg"
    data = Path(tempfile.gettempdir()) / f"dataops-stack-{stack_id}-pg"
    data.mkdir(mode=0o700, exist_ok=True)
    shutil.chown(data, "postgres")
    return data


def _start_own_postgres(data: Path, port: int) -> str:
    """A cluster of our own, made with the machine's PostgreSQL binaries."""
    bin_dir = _pg_bin()
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        made = subprocess.run(
            _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise DataOpsError(f"initdb {data} failed: {made.stderr.strip() or made.stdout.strip()}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    if _postgres_ok(url):
        return url  # ours, still running from an earlier `up`
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200"
    started = subprocess.run(
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w", "-o", options, "start"]),
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != STACK_ID_ENV},  # stopped by pg_ctl, not by the sweep
    )
    if started.returncode != 0:
        raise DataOpsError(f"PostgreSQL did not start on port {port}: {started.stderr.strip()}; see {data / 'server.log'}")
    return url


def _stop_own_postgres(data: Path) -> None:
    if (data / "postmaster.pid").exists():
        stop = [str(_pg_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
        subprocess.run(_as_postgres(stop), capture_output=True)


def _create_databases(admin_url: str, names: list[str]) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            existing = set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
            for name in names:
                if name not in existing:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any driver error: name the setting
        raise DataOpsError(f"PostgreSQL at {make_url(admin_url).render_as_string()} is not usable: {exc}") from exc
    finally:
        engine.dispose()


def _drop_databases(admin_url: str, names: list[str]) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


# -- health checks -----------------------------------------------------------------------------


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URLs we built
            return response.status == 200
    except OSError:
        return False


def _redis_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _postgres_ok(url: str) -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1
    except Exception:  # noqa: BLE001
        return False
    finally:
        engine.dispose()


def _daemon_ok(settings: Settings) -> bool:
    import dagster as dg

    try:
        with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
            statuses = instance.get_daemon_statuses()
            return bool(statuses) and all(status.healthy for status in statuses.values())
    except Exception:  # noqa: BLE001 - not up yet: storage tables are created by the daemon
        return False


def celery_workers(broker_url: str) -> list[str]:
    """Names of the Celery workers answering a ping on the broker."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        replies = app.control.ping(timeout=1.5) or []
    except Exception:  # noqa: BLE001 - broker not up yet
        return []
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply)


def health(home: Path, state: StackState) -> dict[str, bool]:
    settings = stack_settings(home, state)
    return {
        "postgres": _postgres_ok(state.postgres_admin_url),
        "redis": _redis_ok(state.ports["redis"]),
        "mlflow": _http_ok(f"http://127.0.0.1:{state.ports['mlflow']}/health"),
        "dagster-webserver": _http_ok(f"http://127.0.0.1:{state.ports['webserver']}/server_info"),
        "dagster-daemon": _daemon_ok(settings),
        "celery-workers": len(celery_workers(settings.celery_broker_url)) >= len(WORKERS),
    }


# -- up / down ---------------------------------------------------------------------------------


def _programs(home: Path, state: StackState) -> dict[str, str]:
    directory = stack_dir(home)
    bin_dir = Path(sys.executable).parent
    programs = {
        "redis": f"redis-server --port {state.ports['redis']} --bind 127.0.0.1 --save '' --appendonly no --dir {directory}",
        "mlflow": (
            f"{bin_dir}/mlflow server --backend-store-uri %(ENV_DATAOPS_MLFLOW_BACKEND_URL)s "
            f"--artifacts-destination {directory / 'mlflow-artifacts'} "
            f"--host 127.0.0.1 --port {state.ports['mlflow']} --workers 1"
        ),
        "daemon": f"{bin_dir}/dagster-daemon run -w {directory / 'workspace.yaml'}",
        "webserver": f"{bin_dir}/dagster-webserver -w {directory / 'workspace.yaml'} -h 127.0.0.1 -p {state.ports['webserver']}",
    }
    for name in WORKERS:
        programs[name] = (
            f"{bin_dir}/dagster-celery worker start -A dagster_celery.app -y {directory / 'celery.yaml'} "
            f"-n {name}@{state.stack_id} -- --concurrency=1"
        )
    return programs


# MLflow's server starts a job runner for its GenAI features by default: eight more processes,
# ~2.3 GiB on this 2-core box, for nothing the platform uses.
PROGRAM_ENV = {"mlflow": ['environment=MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"']}


def supervisord_conf(home: Path, state: StackState) -> str:
    """supervisord's config: every service restarted if it dies, stopped with its process group."""
    directory = stack_dir(home)
    env = state.env(home) | {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    environment = ",".join(f'{k}="{v}"' for k, v in env.items())
    lines = [
        "; Written by `dataops stack up`; regenerated on every start.",
        "[unix_http_server]",
        f"file={directory / 'supervisor.sock'}",
        "[supervisord]",
        f"logfile={directory / 'logs' / 'supervisord.log'}",
        f"pidfile={directory / 'supervisord.pid'}",
        f"childlogdir={directory / 'logs'}",
        f"directory={directory}",
        f"environment={environment}",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{directory / 'supervisor.sock'}",
    ]
    for name, command in _programs(home, state).items():
        lines += [
            f"[program:{name}]",
            f"command={command}",
            *(PROGRAM_ENV.get(name, [])),
            "autostart=true",
            "autorestart=true",
            "startsecs=2",
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=20",
            f"stdout_logfile={directory / 'logs' / (name + '.log')}",
            "redirect_stderr=true",
        ]
    return "\n".join(lines) + "\n"


def supervisorctl(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run supervisorctl against this home's stack (e.g. `stop mlflow`, `status`)."""
    conf = stack_dir(home.resolve()) / "supervisord.conf"
    return subprocess.run(  # noqa: S603 - our own config
        [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(conf), *args], capture_output=True, text=True
    )


Progress = Callable[[str], None]


def stack_up(
    home: Path,
    postgres_url: str | None = None,
    progress: Progress = lambda _m: None,
    timeout: float = HEALTH_TIMEOUT_S,
) -> StackState:
    """Start every service and wait until each answers; on failure stop what was started."""
    home = home.resolve()
    if (existing := load_state(home)) is not None and existing.manager_pid and _alive(existing.manager_pid):
        raise InvalidInput(
            f"a stack is already running for {home} (supervisord pid {existing.manager_pid}); `dataops stack down` first",
            field="home",
            value=str(home),
        )
    directory = stack_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "logs").mkdir(exist_ok=True)
    stack_id = existing.stack_id if existing else uuid.uuid4().hex[:10]
    ports = existing.ports if existing else {name: free_port() for name in ("postgres", "redis", "mlflow", "webserver")}
    own = postgres_url is None
    progress("PostgreSQL: " + ("starting a cluster of our own" if own else "using the given server"))
    pg_data = (
        (Path(existing.postgres_data) if existing and existing.postgres_data else _own_postgres_data(directory, stack_id))
        if own
        else None
    )
    admin = _start_own_postgres(pg_data, ports["postgres"]) if pg_data else postgres_url
    databases = {db: f"dataops_{db}" if own else f"dataops_{stack_id}_{db}" for db in DATABASES}
    _create_databases(admin, list(databases.values()))
    state = StackState(stack_id, ports, admin, own, databases, postgres_data=str(pg_data) if pg_data else None)
    settings = stack_settings(home, state)
    settings.ensure_home()
    write_stack_config(settings, directory)
    (settings.dagster_home / "dagster.yaml").write_text((directory / "dagster.yaml").read_text())
    conf = directory / "supervisord.conf"
    conf.write_text(supervisord_conf(home, state))
    (directory / "supervisord.pid").unlink(missing_ok=True)
    env = os.environ | {STACK_ID_ENV: stack_id}
    started = subprocess.run(  # noqa: S603 - daemonises itself, writes its pid file
        [str(Path(sys.executable).parent / "supervisord"), "-c", str(conf)], env=env, capture_output=True, text=True
    )
    if started.returncode != 0:
        raise DataOpsError(f"supervisord did not start: {started.stderr or started.stdout}")
    state.manager_pid = _read_pid(directory / "supervisord.pid")
    _save_state(home, state)
    try:
        _wait_healthy(home, state, progress, timeout)
        if has_schema(settings.store_url):
            from dataops_platform.stack.config import sync_pool_limits

            sync_pool_limits(settings)
    except BaseException:
        stack_down(home)
        raise
    return state


def running_state(home: Path) -> StackState:
    """The stack running for this home, or a clear error."""
    state = load_state(home.resolve())
    if state is None or not state.manager_pid or not _alive(state.manager_pid):
        raise InvalidInput(f"no stack is running for {home}; start one with `dataops stack up`", field="home", value=str(home))
    return state


def _read_pid(path: Path, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > deadline:
            raise DataOpsError(f"supervisord wrote no pid file at {path}")
        time.sleep(0.1)
    return int(path.read_text().strip())


def _wait_healthy(home: Path, state: StackState, progress: Progress, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    reported: set[str] = set()
    while True:
        status = health(home, state)
        for name, ok in status.items():
            if ok and name not in reported:
                reported.add(name)
                progress(f"{name}: healthy")
        if all(status.values()):
            return
        if not state.manager_pid or not _alive(state.manager_pid):
            raise DataOpsError(f"the stack's supervisord exited; log tail:\n{_log_tail(home)}")
        if time.monotonic() > deadline:
            waiting = ", ".join(name for name, ok in status.items() if not ok)
            raise DataOpsError(f"stack not healthy after {timeout:.0f} s: waiting for {waiting}; log tail:\n{_log_tail(home)}")
        time.sleep(1.0)


def _log_tail(home: Path, lines: int = 15) -> str:
    logs = sorted((stack_dir(home) / "logs").glob("*.log"))
    tails = []
    for path in logs:
        text = path.read_text(errors="replace").splitlines()[-lines:]
        tails.append(f"--- {path.name}\n" + "\n".join(text))
    return "\n".join(tails) or "(no logs)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stack_processes(stack_id: str) -> list[int]:
    """Every live process started by this stack (they all carry its id in their environment)."""
    marker = f"{STACK_ID_ENV}={stack_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def stack_down(home: Path, purge: bool = False, grace: float = 30.0) -> list[int]:
    """Stop what `up` started (supervisord and every service below it, our own PostgreSQL cluster); returns
    the pids that had to be killed after the grace period. `purge` also drops the databases."""
    home = home.resolve()
    state = load_state(home)
    if state is None:
        return []
    if state.manager_pid and _alive(state.manager_pid):
        try:
            os.kill(state.manager_pid, signal.SIGTERM)  # supervisord stops each service's process group, then exits
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while stack_processes(state.stack_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    killed = stack_processes(state.stack_id)
    for pid in killed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if purge and not state.own_postgres:
        _drop_databases(state.postgres_admin_url, list(state.databases.values()))
    if state.postgres_data:
        _stop_own_postgres(Path(state.postgres_data))
    state.manager_pid = None
    if purge:
        if state.postgres_data:
            shutil.rmtree(state.postgres_data, ignore_errors=True)
        shutil.rmtree(stack_dir(home), ignore_errors=True)
        # The anchor pins the head of the governance chain just dropped; a new store starts afresh.
        stack_settings(home, state).audit_anchor_path.unlink(missing_ok=True)
    else:
        _save_state(home, state)
    return killed
