"""Real processes for the fault tests: a private PostgreSQL server that a test may stop and
start (never the shared one), and gunicorn in production mode pointed at it."""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT

PG_BIN_ROOT = Path("/usr/lib/postgresql")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll until predicate() is true; bounded, so a broken fixture fails instead of hanging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _pg_bin() -> Path:
    versions = sorted(PG_BIN_ROOT.glob("*/bin/pg_ctl")) if PG_BIN_ROOT.is_dir() else []
    if not versions:
        pytest.skip("PostgreSQL server binaries not installed (CI installs the postgresql package)")
    return versions[-1].parent


@dataclass
class PrivatePostgres:
    bin: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/tastetest"

    def _ctl(self, *args: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.data / "server.log"), "-w", "start")

    def stop(self) -> None:
        # Fast: open connections are cut at once, as when the database machine restarts.
        self._ctl("-m", "fast", "-w", "stop")


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="tastetest-pg-"))
    data = root / "data"
    data.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: the cluster belongs to the postgres OS user.
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = PrivatePostgres(bin=bin_dir, data=data, port=free_port())
    server.start()
    subprocess.run(
        [
            str(bin_dir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            "postgres",
            "tastetest",
        ],
        check=True,
        timeout=60,
    )
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class AppServer:
    base: str
    env: dict[str, str]
    seeded: dict
    log: Path

    def client(self, rater_id: str | None = None, **kwargs) -> httpx.Client:
        cookies = {}
        if rater_id is not None:
            cookies[self.seeded["session_cookie"]] = self.seeded["sessions"][rater_id]
        return httpx.Client(base_url=self.base, cookies=cookies, timeout=30, **kwargs)

    def manage(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTEST_", "CELERY_"))
    }
    env.update(
        DATABASE_URL=database_url,
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        TASTETEST_REQUIRE_SECRET_KEY="1",
        # Plain HTTP on localhost: the production settings otherwise redirect to HTTPS.
        SECURE="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def app_server(private_postgres: PrivatePostgres, tmp_path_factory) -> Iterator[AppServer]:
    """gunicorn with config/gunicorn.conf.py, production settings, and a broker that is down."""
    tmp = tmp_path_factory.mktemp("app")
    closed_port = free_port()
    env = production_env(
        private_postgres.url,
        STATIC_ROOT=str(tmp / "static"),
        TASTETEST_DATA_DIR=str(tmp / "data"),
        # Nothing listens there: voting must not need the broker.
        CELERY_BROKER_URL=f"redis://127.0.0.1:{closed_port}/0",
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="4",
        GUNICORN_BIND=f"127.0.0.1:{free_port()}",
        # Failing requests must not wait long for a database that is not there.
        PGCONNECT_TIMEOUT="3",
    )
    for command in (["migrate", "--no-input"], ["collectstatic", "--no-input"]):
        subprocess.run(
            [sys.executable, "manage.py", *command, "-v", "0"],
            cwd=REPO_ROOT,
            env=env,
            check=True,
            timeout=120,
        )
    seeded = json.loads(
        subprocess.run(
            [sys.executable, "-m", "tests.production.seed", "6", "40"],
            cwd=REPO_ROOT,
            env=env,
            check=True,
            timeout=120,
            capture_output=True,
            text=True,
        ).stdout
    )
    log = tmp / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://{env['GUNICORN_BIND']}"
    try:
        wait_until(
            lambda: httpx.get(f"{base}/login/", timeout=2).status_code == 200,
            timeout=60,
            what="gunicorn to answer",
        )
        yield AppServer(base=base, env=env, seeded=seeded, log=log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
