"""`make run` (scripts/run_dev.py) supervises its web server and worker."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.generation.worker import REPO_ROOT, database_url, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunDev:
    def __init__(self, data_dir, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
        env.update(
            DATABASE_URL=database_url(),
            TASTETEST_DATA_DIR=str(data_dir),
            MEDIA_ROOT=str(data_dir / "media"),  # the demo's chart, not in the checkout
            PYTHONUNBUFFERED="1",
            WORKER_ARGS="--pool=threads --concurrency=2 --without-gossip --without-mingle",
        )
        self.port = port
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scripts.run_dev", "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def index_of(self, pattern: str, start: int = 0) -> int:
        for index in range(start, len(self.lines)):
            if re.search(pattern, self.lines[index]):
                return index
        return -1

    def wait_for_line(self, pattern: str, timeout: float, start: int = 0) -> int:
        wait_for(
            lambda: self.index_of(pattern, start) >= 0 or self.process.poll() is not None,
            timeout=timeout,
            what=f"a line matching {pattern!r}:\n{self.text()[-3000:]}",
        )
        index = self.index_of(pattern, start)
        assert index >= 0, f"run_dev exited ({self.process.poll()}):\n{self.text()[-3000:]}"
        return index

    def answers(self) -> bool:
        url = f"http://127.0.0.1:{self.port}/healthz"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return response.status == 200

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def run_dev(tmp_path):
    started = RunDev(tmp_path, free_port())
    yield started
    started.stop()


def test_the_admin_link_comes_last_and_a_killed_worker_is_restarted(run_dev):
    notice = run_dev.wait_for_line(r"Admin: .*/admin/", timeout=180)
    assert run_dev.answers()
    # After the server answered and after the worker's banner, not before them.
    assert 0 <= run_dev.index_of(r"celery@|\] .* ready\.") < notice
    assert run_dev.index_of(r"Quit the server") < notice
    invite = run_dev.wait_for_line(r"Rater invite", timeout=5, start=notice)
    assert invite > notice

    pid = int(re.search(r"Celery worker started \(pid (\d+)\)", run_dev.text()).group(1))
    os.kill(pid, signal.SIGKILL)
    said = run_dev.wait_for_line(r"Celery worker exited .*restarting", timeout=30)
    assert run_dev.process.poll() is None
    assert run_dev.answers()  # the web server kept answering
    restarted = run_dev.wait_for_line(r"Celery worker started \(pid (\d+)\)", 30, start=said)
    new_pid = int(re.search(r"pid (\d+)", run_dev.lines[restarted]).group(1))
    assert new_pid != pid
    run_dev.wait_for_line(r" ready\.", timeout=90, start=restarted)
    time.sleep(0.5)
    assert run_dev.answers()
