"""The production configuration as documented in the README: settings pass Django's deploy
checks, cookies are locked down, and gunicorn takes its sizing from the environment."""

import json
import re
import subprocess
import sys

from tests.conftest import REPO_ROOT
from tests.production.conftest import production_env

# The README's production environment (with a throwaway secret and local services).
README_ENV = {
    "SECURE": "",  # production default: on
    "ALLOWED_HOSTS": "eval.example.org",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
}


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_deploy_checks_pass_with_the_production_environment_from_the_readme() -> None:
    env = production_env("postgres://tastetest@127.0.0.1:5432/tastetest", **README_ENV)
    result = _run(
        sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_a_secret_key_refuses_to_start() -> None:
    env = production_env("sqlite:///:memory:", **README_ENV)
    del env["SECRET_KEY"]
    result = _run(sys.executable, "manage.py", "check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_cookies_are_secure_and_http_only_and_https_is_enforced() -> None:
    env = production_env("sqlite:///:memory:", **README_ENV)
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ["
        "'SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'CSRF_COOKIE_SECURE', "
        "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'DEBUG', 'X_FRAME_OPTIONS']}))"
    )
    result = _run(sys.executable, "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "DEBUG": False,
        "X_FRAME_OPTIONS": "DENY",
    }


def test_gunicorn_takes_its_size_from_the_environment_and_logs_to_stdout() -> None:
    env = production_env(
        "sqlite:///:memory:", WEB_CONCURRENCY="3", GUNICORN_THREADS="2", PORT="8123"
    )
    result = _run(
        sys.executable,
        "-m",
        "gunicorn",
        "--print-config",
        "-c",
        "config/gunicorn.conf.py",
        "config.wsgi",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    config = dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, flags=re.M))
    assert config["workers"] == "3"
    assert config["threads"] == "2"
    assert config["worker_class"] == "gthread"
    assert config["bind"] == "['0.0.0.0:8123']"
    assert config["accesslog"] == "-"
    assert config["errorlog"] == "-"
    assert config["timeout"] == "30"
    # Two instances on one machine must not fight over gunicorn's per-user control socket.
    assert config["control_socket_disable"] == "True"


def test_the_wsgi_module_forks_warm_workers_with_startup_objects_frozen() -> None:
    """gunicorn preloads config.wsgi; a full garbage collection must not walk LiteLLM's tables."""
    env = production_env("sqlite:///:memory:", **README_ENV)
    probe = "import gc; import config.wsgi; print(gc.get_freeze_count())"
    result = _run(sys.executable, "-c", probe, env=env)
    assert result.returncode == 0, result.stderr
    # Unfrozen, a full collection walked ~500,000 startup objects: 240 ms with every thread of
    # the worker stalled (benchmarks/load_voting.py's p99).
    assert int(result.stdout) > 100_000
    conf = (REPO_ROOT / "config" / "gunicorn.conf.py").read_text()
    assert 'preload_app = os.environ.get("GUNICORN_PRELOAD", "1") != "0"' in conf
