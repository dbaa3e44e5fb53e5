"""`make run`: set up the demo, then run the web server and a Celery worker until Ctrl-C.

Both are supervised: a child that exits is started again and the terminal says so; the web
server never stops because the worker did. The admin URL, credentials and invite link are
printed last, once the server answers and the worker is ready, so that the worker's banner
does not push them off screen.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A child that dies sooner than this after starting is restarted after a growing pause, so
# that one that cannot start (a broken setting) does not spin.
STABLE_SECONDS = 10.0
MAX_PAUSE_SECONDS = 30.0
WORKER_READY_TIMEOUT_SECONDS = 60.0


def say(message: str) -> None:
    print(f"[make run] {message}", flush=True)


class Child:
    """One supervised process; its output is passed through line by line."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], ready_text: str):
        self.name, self.command, self.env, self.ready_text = name, command, env, ready_text
        self.process: subprocess.Popen | None = None
        self.ready = threading.Event()
        self.started_at = 0.0
        self.pause = 1.0

    def start(self) -> None:
        self.ready.clear()
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        say(f"{self.name} started (pid {self.process.pid})")
        threading.Thread(target=self._relay, args=(self.process,), daemon=True).start()

    def _relay(self, process: subprocess.Popen) -> None:
        for raw in process.stdout:
            line = raw.decode(errors="replace")
            sys.stdout.write(line)
            sys.stdout.flush()
            if self.ready_text in line:
                self.ready.set()

    def restart_if_exited(self, stopping: threading.Event) -> None:
        code = self.process.poll()
        if code is None or stopping.is_set():
            return
        lived = time.monotonic() - self.started_at
        self.pause = 1.0 if lived >= STABLE_SECONDS else min(self.pause * 2, MAX_PAUSE_SECONDS)
        say(
            f"the {self.name} exited (code {code}) after {lived:.0f} s; "
            f"restarting it in {self.pause:.0f} s"
        )
        if stopping.wait(self.pause):
            return
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait(self, timeout: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def server_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own URL
            return response.status < 500
    except (urllib.error.URLError, OSError):
        return False


def announce_when_up(web: Child, worker: Child, port: int, notice: str, stopping) -> None:
    health = f"http://127.0.0.1:{port}/healthz"
    while not stopping.is_set() and not server_answers(health):
        stopping.wait(0.2)
    # The worker's banner comes once; after it (or after a minute) the notice goes last.
    worker.ready.wait(WORKER_READY_TIMEOUT_SECONDS)
    if not stopping.is_set():
        sys.stdout.write(notice)
        sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    env = {
        **os.environ,
        "DEBUG": os.environ.get("DEBUG", "1"),
        "SITE_URL": os.environ.get("SITE_URL", f"http://127.0.0.1:{args.port}"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONUNBUFFERED": "1",
    }
    python = sys.executable
    setup = subprocess.run(
        [python, "manage.py", "demo_setup"], cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE
    )
    notice = setup.stdout.decode(errors="replace")
    worker_cmd = [python, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO"]
    # With the beat embedded: it polls the open provider batches (batch generation).
    worker_cmd += ["--beat", "--schedule", str(ROOT / "data" / "celerybeat-schedule")]
    worker_cmd += os.environ.get("WORKER_ARGS", "--pool=threads --concurrency=4").split()
    worker = Child("Celery worker", worker_cmd, env, ready_text=" ready.")
    web = Child(
        "web server",
        [python, "manage.py", "runserver", f"127.0.0.1:{args.port}", "--noreload"],
        env,
        ready_text="Quit the server",
    )
    children = [web, worker]
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.start()
    threading.Thread(
        target=announce_when_up, args=(web, worker, args.port, notice, stopping), daemon=True
    ).start()
    try:
        while not stopping.wait(0.5):
            for child in children:
                child.restart_if_exited(stopping)
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        for child in children:
            child.stop()
        for child in children:
            child.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
