"""CPU time of `manage.py help` (the start-up every command and web process pays), beside a
reference measured in the same run: `python -m django help`, Django alone with no project.

CPU (user + sys of the child), not wall time: on a loaded machine the wall clock measures the
other processes. Prints each command's median, min and max over ``--runs`` and the heavy
libraries the project's start-up loaded (none expected: they load where they are used).

    .venv/bin/python benchmarks/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ["litellm", "scipy", "matplotlib", "sqlalchemy", "aiohttp", "numpy"]


def child_cpu_seconds(argv: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OFFLINE_MODE": "true"}
    commands = {
        "reference: python -m django help": [sys.executable, "-m", "django", "help"],
        "manage.py help": [sys.executable, "manage.py", "help"],
    }
    bare_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
    for label, argv in commands.items():
        run_env = bare_env if "django" in argv else env
        times = [child_cpu_seconds(argv, run_env) for _ in range(args.runs)]
        print(
            f"{label:36s} CPU median {statistics.median(times):.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs)"
        )
    probe = (
        "import sys, runpy; sys.argv = ['manage.py', 'help']\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    runpy.run_path('manage.py', run_name='__main__')\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    print(f"heavy libraries loaded by manage.py help: {loaded.stdout.strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
