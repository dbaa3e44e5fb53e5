import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.db import connection

from tests.conftest import IN_CI, REPO_ROOT


@pytest.mark.django_db
def test_ci_runs_on_postgresql():
    if IN_CI:
        assert connection.vendor == "postgresql", "CI must run the suite on PostgreSQL"
    else:
        assert connection.vendor in {"postgresql", "sqlite"}


def test_ci_uses_redis_broker_when_set():
    from django.conf import settings

    if IN_CI:
        assert settings.CELERY_BROKER_URL.startswith("redis://")


@pytest.mark.django_db
def test_migrations_are_up_to_date():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_system_checks_pass():
    call_command("check", fail_level="WARNING")


def test_code_is_ruff_clean():
    ruff = os.path.join(os.path.dirname(sys.executable), "ruff")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "."], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_litellm_never_fetches_its_price_table_at_import():
    code = (
        "import os, socket\n"
        "def refuse(*a, **k): raise AssertionError('network used at import')\n"
        "socket.create_connection = refuse\n"
        "socket.socket.connect = refuse\n"
        "import django; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()\n"
        "import litellm\n"
        "assert os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] == 'True'\n"
        "assert litellm.model_cost\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_production_settings_refuse_to_run_without_a_secret_key():
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "0",
        "TASTETEST_REQUIRE_SECRET_KEY": "1",
        "TASTETEST_DATA_DIR": os.environ.get("TASTETEST_DATA_DIR", str(REPO_ROOT / "data")),
    }
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
