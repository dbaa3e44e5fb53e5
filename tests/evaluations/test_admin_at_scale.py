"""The study admin page at scale: prompts get their own list instead of an inline (issue 22)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evaluations.models import Prompt
from tests.factories import PromptFactory, StudyFactory

pytestmark = pytest.mark.django_db


def _prompts(study, n: int) -> None:
    Prompt.objects.bulk_create(
        Prompt(study=study, external_id=f"p{i}", text=f"Prompt text {i}", category="c")
        for i in range(n)
    )


def test_study_page_links_to_its_prompts_with_the_count_instead_of_listing_them(client, staff_user):
    study = StudyFactory(owner=staff_user)
    _prompts(study, 1234)
    client.force_login(staff_user)
    page = client.get(reverse("admin:evaluations_study_change", args=[study.pk])).content.decode()
    assert "Prompt text 17" not in page
    assert 'name="prompts-TOTAL_FORMS"' not in page
    listing = reverse("admin:evaluations_prompt_changelist") + f"?study__id__exact={study.pk}"
    assert f'href="{listing}"' in page
    assert "1,234 prompts" in page


def test_study_page_queries_do_not_grow_with_the_prompts(client, staff_user):
    small, large = StudyFactory(owner=staff_user), StudyFactory(owner=staff_user)
    _prompts(small, 3)
    _prompts(large, 300)
    client.force_login(staff_user)
    sizes = []
    for study in (small, large):
        url = reverse("admin:evaluations_study_change", args=[study.pk])
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        sizes.append((len(queries), len(response.content)))
    assert sizes[0][0] == sizes[1][0]
    assert abs(sizes[0][1] - sizes[1][1]) < 200


def test_the_add_page_still_takes_prompts_inline(client, staff_user):
    client.force_login(staff_user)
    page = client.get(reverse("admin:evaluations_study_add")).content.decode()
    assert 'name="prompts-TOTAL_FORMS"' in page


def test_prompt_list_is_filtered_by_study_paginated_and_searchable(client, staff_user):
    study, other = StudyFactory(owner=staff_user), StudyFactory(owner=staff_user)
    _prompts(study, 250)
    PromptFactory(study=other, text="Prompt text 7 elsewhere")
    client.force_login(staff_user)
    url = reverse("admin:evaluations_prompt_changelist")
    page = client.get(url, {"study__id__exact": study.pk})
    assert page.status_code == 200
    assert len(page.context["cl"].result_list) == 100
    assert page.context["cl"].paginator.count == 250
    found = client.get(url, {"study__id__exact": study.pk, "q": "p7"})
    assert {p.external_id for p in found.context["cl"].result_list} == {
        "p7",
        *(f"p7{i}" for i in range(10)),
    }


def test_prompt_list_queries_do_not_grow_with_the_page(client, staff_user):
    client.force_login(staff_user)
    url = reverse("admin:evaluations_prompt_changelist")
    counts = []
    for n in (5, 100):
        for _ in range(n - len(counts) * 5):
            PromptFactory()  # each in its own study: the study's name is on every row
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_prompt_change_page_takes_the_study_by_id_not_a_select_of_every_study(client, staff_user):
    prompt = PromptFactory()
    client.force_login(staff_user)
    page = client.get(reverse("admin:evaluations_prompt_change", args=[prompt.pk]))
    assert page.status_code == 200
    assert '<select name="study"' not in page.content.decode()
    assert 'name="study"' in page.content.decode()
