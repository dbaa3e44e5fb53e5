import os

import pytest

from tests.api.conftest import build_study
from tests.api.test_results_page import admin_client_for, results_url  # noqa: F401


@pytest.mark.django_db
def test_results_page_shows_monitoring_column_population_and_style(admin_client_for, staff_user):  # noqa: F811
    study = build_study(staff_user, prompts=8, raters=3)
    body = admin_client_for(staff_user).get(results_url(study)).content.decode()
    if os.environ.get("RESULTS_PAGE_HTML"):
        with open(os.environ["RESULTS_PAGE_HTML"], "w") as handle:
            handle.write(body)
    assert "Pairwise tests" in body and "Anytime Holm p" in body
    assert "Under continuous monitoring" in body
    assert "raters like these" in body
    assert "with 80% power" in body or "cannot be separated at any size" in body
