"""`make run` and `make test` take the newest supported Python found, not python3.11 by name."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def chosen_python(path: str) -> str:
    env = {**os.environ, "PATH": path}
    env.pop("PYTHON", None)
    make = shutil.which("make")
    result = subprocess.run(
        [make, "-s", "which-python"], cwd=REPO_ROOT, env=env, capture_output=True, check=True
    )
    return result.stdout.decode().strip()


def fake_pythons(tmp_path, names: list[str]) -> str:
    for name in names:
        (tmp_path / name).symlink_to(sys.executable)
    return f"{tmp_path}:/usr/bin:/bin"


def test_a_machine_with_only_python_3_12_uses_it(tmp_path):
    path = fake_pythons(tmp_path, ["python3.12"])
    # /usr/bin may hold a python3.11 too: 3.12 comes first.
    assert chosen_python(path) == str(tmp_path / "python3.12")


def test_the_newest_supported_python_is_taken(tmp_path):
    path = fake_pythons(tmp_path, ["python3.11", "python3.12", "python3.13"])
    assert chosen_python(path) == str(tmp_path / "python3.13")


def test_a_python_that_does_not_run_is_skipped(tmp_path):
    (tmp_path / "python3.13").write_text("#!/bin/sh\nexit 127\n")
    (tmp_path / "python3.13").chmod(0o755)
    (tmp_path / "python3.12").symlink_to(sys.executable)
    assert chosen_python(f"{tmp_path}:/usr/bin:/bin") == str(tmp_path / "python3.12")
