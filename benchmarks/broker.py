"""Latency of the embedded broker (`make run`'s default): publish to task start.

Starts a Celery worker as `make run` does (threads pool, no CELERY_BROKER_URL, so the SQLite
broker under a temporary TASTETEST_DATA_DIR), sends tasks one at a time and reads when the
worker received each from its log. Prints the median and p95 over ``--tasks``.

    .venv/bin/python benchmarks/broker.py [--tasks 100]

The worker needs a migrated database: DATABASE_URL (a fresh SQLite file is made if unset).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECEIVED = re.compile(r"^\[(\S+ \S+): INFO/MainProcess\] Task \S+\[([0-9a-f-]+)\] received")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="broker-bench-"))
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    env.update(TASTETEST_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    env.setdefault("DATABASE_URL", f"sqlite:///{data_dir / 'db.sqlite3'}")
    os.environ.update(env)
    os.environ.pop("CELERY_BROKER_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from config.celery import app

    log_path = data_dir / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO"]
            + ["--pool=threads", "--concurrency=4", "--without-gossip", "--without-mingle"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while " ready." not in log_path.read_text(errors="replace"):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the worker did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        sent: dict[str, float] = {}
        for _ in range(args.tasks):
            started = time.time()
            result = app.send_task("evaluations.tasks.outputs_generate_task", args=[[]])
            sent[result.id] = started
            time.sleep(0.2)  # one at a time: the worker is idle and polling when each comes
        time.sleep(2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    received = {}
    for line in log_path.read_text(errors="replace").splitlines():
        match = RECEIVED.match(line)
        if match and match.group(2) in sent:
            # The worker logs local time.
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone()
            when = stamp.timestamp()
            received[match.group(2)] = when
    delays = sorted((received[i] - sent[i]) * 1000 for i in received)
    if not delays:
        raise SystemExit("no task was received")
    p95 = delays[min(len(delays) - 1, int(0.95 * len(delays)))]
    print(
        f"embedded SQLite broker: {len(delays)} of {args.tasks} tasks received; publish to task "
        f"start median {statistics.median(delays):.1f} ms, p95 {p95:.1f} ms "
        f"(polling every {app.connection_for_write().transport.polling_interval * 1000:.0f} ms)"
    )
    return 0 if len(delays) == args.tasks else 1


if __name__ == "__main__":
    sys.exit(main())
