"""The style columns are written with SQL that SQLite (the `make run` default) runs too.

Found on a walk through the README with an existing `make run` data directory: migration 0012's
backfill used PostgreSQL's `FROM (VALUES ...) AS v(id, ...)` column aliases, which SQLite does not
take, so `make run` stopped at `migrate` with `near "(": syntax error`.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
before = ("evaluations", "0011_prefs_candidate_imported")
call_command("migrate", "evaluations", before[1], verbosity=0)
old = MigrationExecutor(connection).loader.project_state(before).apps
def make(path, /, **fields):
    return old.get_model(*path.split(".")).objects.create(**fields)
owner = make("auth.User", username="owner")
study = make("evaluations.Study", name="s", slug="s", owner_id=owner.pk)
prompt = make("evaluations.Prompt", study=study, external_id="p1", text="Q?")
candidate = make("evaluations.Candidate", study=study, label="A", model="demo/a")
make("evaluations.Output",
     prompt=prompt, candidate=candidate, text="# Title\\n- one\\n**b**")
call_command("migrate", verbosity=0)
from evaluations.models import Output
print("backfilled", Output.objects.values_list(
    "style_length", "style_headers", "style_lists", "style_bold").get())
Output.objects.update(style_length=None)
from evaluations.output_style import outputs_style_fill
print("filled", outputs_style_fill(Output.objects.all()))
print("style", Output.objects.values_list(
    "style_length", "style_headers", "style_lists", "style_bold").get())
"""


@pytest.mark.slow
def test_migrations_and_the_style_fill_run_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "TASTETEST_DATA_DIR": str(tmp_path),
    }
    env.pop("CELERY_BROKER_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "backfilled (" in done.stdout and "backfilled (None" not in done.stdout
    assert "filled 1" in done.stdout
    assert "style (" in done.stdout and "style (None" not in done.stdout
