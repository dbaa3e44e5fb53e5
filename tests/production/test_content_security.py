"""A Content-Security-Policy on the admin and the API as on the rater pages: scripts and style
sheets from this site only, and no page that needs more (inline scripts, inline style sheets,
event-handler attributes). Chromium proves the pages still work under it:
tests/browser/test_admin_csp.py."""

import re

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from evaluations.models import Study
from tests.api.conftest import build_study
from tests.factories import UserFactory

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
HANDLER_ATTRIBUTE = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


def directives(response) -> dict[str, str]:
    policy = response.headers.get("Content-Security-Policy", "")
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in policy.split(";")
        if part.strip()
    }


@pytest.fixture
def superuser_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def study(db) -> Study:
    owner = UserFactory(is_staff=True)
    study = build_study(owner, models=("alpha", "beta", "gamma"), prompts=4, raters=2)
    study.status = Study.Status.GENERATING  # the progress bar is live: its script is on the page
    study.save(update_fields=["status"])
    return study


def admin_pages(study: Study) -> list[str]:
    pages = [
        reverse("admin:index"),
        f"/admin/evaluations/study/{study.pk}/change/",
        f"/admin/evaluations/study/{study.pk}/results/",
        f"/admin/evaluations/study/{study.pk}/results/?exclude_flagged=1",
    ]
    for model in admin.site._registry:
        meta = model._meta
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    return pages


def test_every_admin_page_carries_a_policy_without_inline_script_or_style(superuser_client, study):
    checked = 0
    for url in admin_pages(study) + ["/api/v1/docs/", "/api/v1/studies/?format=api"]:
        response = superuser_client.get(url)
        if response.status_code == 403:  # an add page the admin refuses (votes are read-only)
            continue
        assert response.status_code == 200, url
        policy = directives(response)
        assert policy.get("script-src") == "'self'", url
        assert policy.get("style-src") == "'self'", url
        assert policy.get("object-src") == "'none'" and policy.get("base-uri") == "'none'", url
        assert policy.get("frame-ancestors") == "'none'", url
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), (url, INLINE_SCRIPT.search(html).group(0))
        assert "<style" not in html, url
        assert not HANDLER_ATTRIBUTE.search(html), (url, HANDLER_ATTRIBUTE.search(html).group(0))
        assert "javascript:" not in html, url
        checked += 1
    assert checked >= 10


def test_the_admin_sign_in_page_and_api_answers_carry_the_policy(superuser_client, study):
    anonymous = Client()
    for client, url in [
        (anonymous, reverse("admin:login")),
        (anonymous, "/api/v1/studies/"),  # 401, JSON
        (superuser_client, "/api/v1/studies/"),
        (superuser_client, f"/api/v1/studies/{study.pk}/votes.csv"),
        (superuser_client, "/api/v1/schema/"),
        (superuser_client, "/api/v1/docs/?script="),
        (anonymous, "/admin/no/such/page/"),
    ]:
        response = client.get(url)
        assert directives(response).get("script-src") == "'self'", url


def test_the_rater_pages_keep_their_own_stricter_policy(db):
    response = Client().get(reverse("raters:login"))
    assert "style-src-attr" not in directives(response)
    assert directives(response)["style-src"] == "'self'"


def test_the_charts_carry_no_style_sheet_of_their_own(superuser_client, study):
    html = superuser_client.get(f"/admin/evaluations/study/{study.pk}/results/").content.decode()
    assert html.count("<svg") >= 4
    assert "<style" not in html
