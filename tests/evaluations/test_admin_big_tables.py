"""Admin pages of big tables (issue 22 item 12): no page selects every account, and no list
counts a whole big table to number its pages."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from evaluations.admin_base import paginator as admin_paginator
from evaluations.models import Output
from raters.models import Assignment
from research.admin.studies import StudyAdmin
from tests.factories import (
    MembershipFactory,
    OutputFactory,
    PairFactory,
    PromptFactory,
    RaterFactory,
    StudyFactory,
    UserFactory,
    VoteFactory,
)

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
        if re.match(r"SELECT COUNT\(\*\)", q["sql"]) and " LIMIT " not in q["sql"].upper()
    ]


@pytest.mark.parametrize("info", BIG_LISTS)
def test_big_changelists_never_count_the_whole_table(client, staff_user, info, monkeypatch):
    monkeypatch.setattr(admin_paginator, "EXACT_COUNT_CAP", 2)
    for _ in range(4):
        vote = VoteFactory()
        MembershipFactory(rater=vote.rater, study=vote.study)
        Assignment.objects.create(
            study=vote.study,
            pair=vote.pair,
            rater=vote.rater,
            left_output=vote.left_output,
            state=Assignment.State.VOTED,
            expires_at=timezone.now(),
        )
    client.force_login(staff_user)
    url = reverse(f"admin:{info}_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert _uncapped_counts(queries) == []
    # Past the cap the total is the planner's estimate (PostgreSQL), never below the cap.
    assert response.context["cl"].result_count > 2
    assert len(response.context["cl"].result_list) >= 4


def test_a_list_under_the_cap_shows_its_exact_total(client, staff_user):
    votes = [VoteFactory() for _ in range(3)]
    client.force_login(staff_user)
    response = client.get(
        reverse("admin:raters_vote_changelist"), {"study__id__exact": votes[0].study_id}
    )
    assert response.context["cl"].result_count == 1
    assert response.context["cl"].paginator.count == 1


def _study_list_rows(response) -> dict[str, list[str]]:
    cl = response.context["cl"]
    return {study.name: study for study in cl.result_list}


def test_study_list_counts_the_page_rows_without_a_subquery_per_study(client, staff_user):
    busy, quiet = StudyFactory(owner=staff_user, name="Busy"), StudyFactory(owner=staff_user)
    pair = PairFactory(study=busy)
    VoteFactory(pair=pair)
    VoteFactory(pair=pair)
    OutputFactory(prompt=pair.prompt, status=Output.Status.FAILED)
    client.force_login(staff_user)
    url = reverse("admin:evaluations_study_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    listing = [q["sql"] for q in queries if q["sql"].startswith('SELECT "evaluations_study"."id"')]
    assert listing and all('"raters_vote"' not in sql for sql in listing)
    rows = _study_list_rows(response)
    assert (rows["Busy"].n_prompts, rows["Busy"].n_candidates) == (1, 3)
    assert (rows["Busy"].n_done, rows["Busy"].n_failed) == (2, 1)
    assert (rows["Busy"].n_pairs, rows["Busy"].n_votes) == (1, 2)
    assert rows[quiet.name].n_votes == 0
    page = response.content.decode()
    assert '<td class="field-vote_count">2</td>' in page


def test_study_list_still_sorts_by_a_count(client, staff_user):
    for n in (1, 3, 2):
        study = StudyFactory(owner=staff_user, name=f"Votes {n}")
        pair = PairFactory(study=study)
        for _ in range(n):
            VoteFactory(pair=pair)
    client.force_login(staff_user)
    url = reverse("admin:evaluations_study_changelist")
    display = ["action_checkbox", *StudyAdmin.list_display]
    column = display.index("vote_count")
    response = client.get(url, {"o": f"-{column}"})
    assert [s.name for s in response.context["cl"].result_list] == ["Votes 3", "Votes 2", "Votes 1"]


def test_study_change_page_counts_nothing_for_the_list(client, staff_user):
    study = StudyFactory(owner=staff_user)
    VoteFactory(pair=PairFactory(study=study))
    client.force_login(staff_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:evaluations_study_change", args=[study.pk]))
    assert response.status_code == 200
    studies = [q["sql"] for q in queries if q["sql"].startswith('SELECT "evaluations_study"."id"')]
    assert studies and all('"raters_vote"' not in sql for sql in studies)


def test_study_add_page_takes_the_owner_by_id_not_a_select_of_every_account(client, staff_user):
    UserFactory(username="account-not-offered")
    client.force_login(staff_user)
    html = client.get(reverse("admin:evaluations_study_add")).content.decode()
    assert '<select name="owner"' not in html
    assert "account-not-offered" not in html
    assert 'name="owner"' in html


def test_candidate_list_counts_drift_for_the_page_rows_only(client, staff_user):
    output = OutputFactory(version_mismatch=True)
    OutputFactory(candidate=output.candidate, prompt=PromptFactory(study=output.prompt.study))
    client.force_login(staff_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:evaluations_candidate_changelist"))
    listing = [q["sql"] for q in queries if q["sql"].startswith('SELECT "evaluations_candidate"')]
    assert listing and all(
        "JOIN" not in sql or '"evaluations_output"' not in sql for sql in listing
    )
    assert all("GROUP BY" not in q["sql"] for q in queries if "COUNT(*)" in q["sql"])
    assert "1 of 2 outputs served by another model" in response.content.decode()


def _count_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if "COUNT(" in q["sql"]]


def test_vote_search_finds_by_pair_id_and_rater_name_without_joining_them(client, staff_user):
    vote = VoteFactory(rater=RaterFactory(display_name="Ada Lovelace"))
    other = VoteFactory(rater=RaterFactory(display_name="Alan Turing"))
    client.force_login(staff_user)
    url = reverse("admin:raters_vote_changelist")

    def found(term: str) -> set[int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"q": term})
        assert response.status_code == 200
        assert all(" JOIN " not in sql for sql in _count_queries(queries))
        return {v.pk for v in response.context["cl"].result_list}

    assert found("lovelace") == {vote.pk}
    assert found(other.pair.public_id) == {other.pk}
    assert found("ada lovelace") == {vote.pk}
    assert found(f"ada {other.pair.public_id}") == set()  # every word must match
    assert found('"Alan Turing"') == {other.pk}


def test_output_search_finds_text_prompt_and_candidate_without_joining_them(client, staff_user):
    output = OutputFactory(text="The mitochondria is the powerhouse")
    other = OutputFactory(text="Something else entirely")
    client.force_login(staff_user)
    url = reverse("admin:evaluations_output_changelist")

    def found(term: str) -> set[int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"q": term})
        assert all(" JOIN " not in sql for sql in _count_queries(queries))
        return {o.pk for o in response.context["cl"].result_list}

    assert found("powerhouse") == {output.pk}
    assert found(other.prompt.external_id) == {other.pk}
    assert found(other.candidate.label) == {other.pk}
    assert found("powerhouse entirely") == set()


def test_search_of_another_researchers_study_finds_nothing(client):
    owner, stranger = UserFactory(is_staff=True), UserFactory(is_staff=True)
    from django.contrib.auth.models import Group

    researchers = Group.objects.filter(name__icontains="research").first()
    if researchers is not None:
        owner.groups.add(researchers)
    VoteFactory(
        pair=PairFactory(study=StudyFactory(owner=stranger)),
        rater=RaterFactory(display_name="Hidden"),
    )
    client.force_login(owner)
    response = client.get(reverse("admin:raters_vote_changelist"), {"q": "hidden"})
    assert response.status_code in (200, 403)
    if response.status_code == 200:
        assert list(response.context["cl"].result_list) == []


def test_an_estimated_total_says_about(client, staff_user, monkeypatch):
    monkeypatch.setattr(admin_paginator, "EXACT_COUNT_CAP", 2)
    for _ in range(4):
        VoteFactory()
    client.force_login(staff_user)
    response = client.get(reverse("admin:raters_vote_changelist"))
    paginator_text = re.search(r'<p class="paginator">(.*?)</p>', response.content.decode(), re.S)
    estimated = connection.vendor == "postgresql"
    assert response.context["cl"].paginator.estimated is estimated
    assert ("about " in paginator_text[1]) is estimated
