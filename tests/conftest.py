import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# The stub providers listen on loopback, and their key is in STUB_API_KEY: allowed explicitly,
# as an operator would, here and in the Celery workers the tests start (they read os.environ).
TEST_OUTBOUND_ALLOWED_HOSTS = "127.0.0.1,::1,localhost"
TEST_EXTRA_KEY_ENVS = ["STUB_API_KEY"]
os.environ.setdefault("OUTBOUND_ALLOWED_HOSTS", TEST_OUTBOUND_ALLOWED_HOSTS)
os.environ.setdefault(
    "PROVIDER_KEY_ENV_ALLOWLIST",
    ",".join([*django_settings.PROVIDER_KEY_ENV_ALLOWLIST, *TEST_EXTRA_KEY_ENVS]),
)

REPO_ROOT = Path(__file__).resolve().parent.parent
REFDATA_DIR = REPO_ROOT.parent / "shared" / "refdata"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failed test: reference data and Chromium must be there."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {reason}"


@pytest.fixture(autouse=True)
def provider_access_for_stubs(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = TEST_OUTBOUND_ALLOWED_HOSTS.split(",")
    allowlist = settings.PROVIDER_KEY_ENV_ALLOWLIST
    settings.PROVIDER_KEY_ENV_ALLOWLIST = [*allowlist, *set(TEST_EXTRA_KEY_ENVS) - set(allowlist)]


@pytest.fixture(scope="session")
def refdata() -> Path:
    if not REFDATA_DIR.is_dir():
        pytest.skip(f"reference data {REFDATA_DIR} not found (a user's clone); CI requires it")
    return REFDATA_DIR


@pytest.fixture
def staff_user(db):
    from tests.factories import UserFactory

    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def study(db, staff_user):
    from tests.factories import StudyFactory

    return StudyFactory(owner=staff_user)
