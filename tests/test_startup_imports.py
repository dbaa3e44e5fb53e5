"""Processes that call no provider never import LiteLLM (about 4 s of CPU at start-up), and
start-up loads none of the heavy libraries that only some requests use: scipy (the statistics),
matplotlib (the plots), SQLAlchemy (the embedded broker's transport), aiohttp (provider calls)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

REPORT_LITELLM_AT_EXIT = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('litellm loaded:', 'litellm' in sys.modules))\n"
)
LOADED_ONLY_WHERE_USED = ["scipy", "matplotlib", "sqlalchemy", "aiohttp"]
REPORT_HEAVY_AT_EXIT = (
    "import atexit, sys\n"
    f"heavy = {LOADED_ONLY_WHERE_USED!r}\n"
    "atexit.register(lambda: print('heavy loaded:', [m for m in heavy if m in sys.modules]))\n"
)
SETTINGS_URLS_AND_ADMIN = (
    "import django; django.setup()\n"
    "from django.contrib import admin; admin.autodiscover()\n"
    "from django.conf import settings\n"
    "from django.urls import get_resolver\n"
    "resolver = get_resolver(settings.ROOT_URLCONF)\n"
    "resolver.url_patterns; resolver.reverse_dict\n"
    "import config.celery\n"
)


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )


def test_settings_urls_and_admin_do_not_import_litellm():
    code = REPORT_LITELLM_AT_EXIT + SETTINGS_URLS_AND_ADMIN
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "litellm loaded: False" in result.stdout, result.stdout


@pytest.mark.parametrize(
    "argv", [["help"], ["analyze", "--help"], ["help", "analyze"], ["check"]], ids=" ".join
)
def test_commands_that_call_no_provider_do_not_import_litellm(argv):
    code = REPORT_LITELLM_AT_EXIT + (
        f"import runpy; sys.argv = ['manage.py', *{argv!r}]\n"
        "runpy.run_path('manage.py', run_name='__main__')\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "litellm loaded: False" in result.stdout, result.stdout


def test_settings_urls_and_admin_load_no_heavy_library():
    result = run_python(REPORT_HEAVY_AT_EXIT + SETTINGS_URLS_AND_ADMIN)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "heavy loaded: []" in result.stdout, result.stdout


@pytest.mark.parametrize("argv", [["help"], ["help", "analyze"], ["check"]], ids=" ".join)
def test_commands_load_no_heavy_library_at_start_up(argv):
    code = REPORT_HEAVY_AT_EXIT + (
        f"import runpy; sys.argv = ['manage.py', *{argv!r}]\n"
        "runpy.run_path('manage.py', run_name='__main__')\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "heavy loaded: []" in result.stdout, result.stdout


def test_heavy_libraries_still_load_where_used():
    code = REPORT_HEAVY_AT_EXIT + (
        "import django; django.setup()\n"
        "import evaluations.analysis.report, research.results.plots\n"
        "import evaluations.generation.request_timing, config.sqlite_broker\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "heavy loaded: ['scipy', 'matplotlib', 'sqlalchemy', 'aiohttp']" in result.stdout


def test_generation_call_site_still_loads_litellm_configured():
    code = (
        "import django; django.setup()\n"
        "from evaluations.providers.llm_loading import litellm_loaded\n"
        "litellm = litellm_loaded()\n"
        "assert litellm.suppress_debug_info is True\n"
        "assert litellm.disable_hf_tokenizer_download is True\n"
        "assert any(p['provider'] == 'demo' for p in litellm.custom_provider_map)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
