"""`make run`: set up the demo, then run the web server and a Celery worker until Ctrl-C."""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
    subprocess.run([python, "manage.py", "demo_setup"], cwd=ROOT, env=env, check=True)
    worker_cmd = [python, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO"]
    worker_cmd += os.environ.get("WORKER_ARGS", "--pool=threads --concurrency=4").split()
    processes = [
        subprocess.Popen(worker_cmd, cwd=ROOT, env=env),
        subprocess.Popen(
            [python, "manage.py", "runserver", f"127.0.0.1:{args.port}", "--noreload"],
            cwd=ROOT,
            env=env,
        ),
    ]

    def stop(*_: object) -> None:
        for process in processes:
            if process.poll() is None:
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        deadline = time.monotonic() + 10
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
