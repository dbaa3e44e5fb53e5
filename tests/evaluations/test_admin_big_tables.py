"""Admin pages of big tables (issue 22 item 12): no page selects every account, and no list
counts a whole big table to number its pages."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evaluations import admin_paginator
from tests.factories import MembershipFactory, UserFactory, VoteFactory

pytestmark = pytest.mark.django_db

BIG_LISTS = [
    "evaluations_prompt",
    "evaluations_output",
    "evaluations_pair",
    "raters_vote",
    "raters_assignment",
    "raters_membership",
    "raters_rater",
]


def test_token_add_page_takes_the_user_by_id_not_a_select_of_every_account(client, staff_user):
    for k in range(5):
        UserFactory(username=f"account-listed-{k}")
    client.force_login(staff_user)
    page = client.get(reverse("admin:authtoken_tokenproxy_add"))
    assert page.status_code == 200
    html = page.content.decode()
    assert '<select name="user"' not in html
    assert "account-listed-3" not in html
    assert 'name="user"' in html


def _uncapped_counts(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if re.search(r"\bCOUNT\(", q["sql"], re.IGNORECASE) and " LIMIT " not in q["sql"].upper()
    ]


@pytest.mark.parametrize("info", BIG_LISTS)
def test_big_changelists_never_count_the_whole_table(client, staff_user, info, monkeypatch):
    monkeypatch.setattr(admin_paginator, "EXACT_COUNT_CAP", 2)
    for _ in range(4):
        vote = VoteFactory()
        MembershipFactory(rater=vote.rater, study=vote.study)
    client.force_login(staff_user)
    url = reverse(f"admin:{info}_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert _uncapped_counts(queries) == []
    # Past the cap the total is the planner's estimate (PostgreSQL), never below the cap.
    assert response.context["cl"].result_count > 2
    assert len(response.context["cl"].result_list) == 4


def test_a_list_under_the_cap_shows_its_exact_total(client, staff_user):
    votes = [VoteFactory() for _ in range(3)]
    client.force_login(staff_user)
    response = client.get(
        reverse("admin:raters_vote_changelist"), {"study__id__exact": votes[0].study_id}
    )
    assert response.context["cl"].result_count == 1
    assert response.context["cl"].paginator.count == 1
