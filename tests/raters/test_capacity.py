"""Issue 20, capacity: a vote and the next pair in a handful of queries, without losing fairness.

Counted in a real transaction (django_db(transaction=True)), as production runs them: inside a
test's own transaction every atomic block would add a SAVEPOINT and a RELEASE that production
never sends.
"""

import pytest
from django.core.cache import cache
from django.urls import reverse

from raters.assignment import assignment_next
from raters.voting import vote_record
from tests.raters.conftest import join, study_with_pairs

# Sign-in (the session comes from the cache), the rater's membership with the study, the vote
# (assignment, vote row and the latest vote times for the speed flag in one statement), the
# candidate pairs locked and ranked, the reservation with the pair's texts, and progress.
MAX_QUERIES_VOTE_AND_NEXT_PAIR = 6


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.mark.django_db(transaction=True)
def test_a_vote_and_the_next_pair_take_at_most_six_queries(client, django_assert_max_num_queries):
    study = study_with_pairs(n_prompts=30, n_candidates=4, votes_per_pair=3)
    for other in [join(study) for _ in range(3)]:  # a study in progress: loads differ
        vote_record(
            rater=other,
            study=study,
            public_id=assignment_next(rater=other, study=study).pair.public_id,
            side_choice="B",
        )
    rater = join(study)
    client.force_login(rater.user)
    url = reverse("raters:vote", args=[study.pk])
    for choice in ("A", "B", "tie", "A"):
        public_id = assignment_next(rater=rater, study=study).pair.public_id
        with django_assert_max_num_queries(MAX_QUERIES_VOTE_AND_NEXT_PAIR):
            response = client.post(
                url,
                {"pair": public_id, "choice": choice, "time_spent_ms": "4000"},
                headers={"X-Requested-With": "fetch"},
            )
        assert response.status_code == 200
        assert b"Vote recorded." in response.content
        assert b'name="pair"' in response.content, "the response carries the next pair"


@pytest.mark.django_db(transaction=True)
def test_a_reservation_colliding_with_one_another_tab_is_committing_takes_another_pair():
    import threading

    from django.db import connection, transaction
    from django.utils import timezone

    from raters.assignment import RESERVATION_TTL
    from raters.models import Assignment
    from raters.reservation_sql import regular_pair_reserve
    from tests.raters.test_hot_path import exact_loads, stored_loads

    study = study_with_pairs(n_prompts=3, n_candidates=3, votes_per_pair=2)
    rater = join(study)
    now = timezone.now()
    with transaction.atomic():  # which pair the statement picks, then undone
        best = regular_pair_reserve(
            study=study, rater=rater, now=now, expires_at=now + RESERVATION_TTL, pool_size=24
        ).assignment.pair
        transaction.set_rollback(True)
    inserted, release = threading.Event(), threading.Event()

    def other_tab():
        try:
            with transaction.atomic():
                Assignment.objects.create(
                    study=study,
                    pair_id=best.pk,
                    rater=rater,
                    left_output_id=best.output_a_id,
                    expires_at=now + RESERVATION_TTL,
                )
                Pair.objects.filter(pk=best.pk).update(load=F("load") + 1)
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    from django.db.models import F

    from evaluations.models import Pair

    tab = threading.Thread(target=other_tab)
    tab.start()
    assert inserted.wait(10)
    threading.Timer(0.5, release.set).start()  # commits while this request waits on it
    assignment = assignment_next(rater=rater, study=study, now=now)
    tab.join()

    assert assignment is not None and assignment.pair_id != best.pk
    assert Assignment.objects.filter(rater=rater).count() == 2
    assert stored_loads(study) == exact_loads(study)


def _plans(study, rater) -> dict[str, str]:
    """EXPLAIN of the vote, reservation and progress statements for the rater, rolled back."""
    from django.db import connection, transaction
    from django.utils import timezone

    from raters import progress, reservation_sql, vote_sql
    from raters.assignment import RESERVATION_TTL
    from raters.speed import SPEED_RECENT_VOTES

    now = timezone.now()
    plans = {}
    with transaction.atomic():
        held = assignment_next(rater=rater, study=study)
        common = {"rater": rater.pk, "study": study.pk, "reserved": "reserved", "now": now}
        statements = [
            (
                "vote",
                vote_sql._sql(),
                {
                    **common,
                    "public_id": held.pair.public_id,
                    "side": "A",
                    "choice_a": "A",
                    "choice_b": "B",
                    "reported": 4000,
                    "slack": 5000,
                    "voted": "voted",
                    "rationale": "",
                    "recent": SPEED_RECENT_VOTES,
                    "strength": None,
                    "criteria": [],
                    "criterion_sides": [],
                    "criterion_strengths": [],
                    "turn": None,
                },
            ),
            (
                "reservation",
                reservation_sql._reserve_sql(),
                {
                    **common,
                    "seed": study.seed,
                    "target": study.votes_per_pair,
                    "pool": 24,
                    "expires": now + RESERVATION_TTL,
                },
            ),
            ("progress", progress._progress_sql(), {**common, "target": study.votes_per_pair}),
        ]
        with connection.cursor() as cursor:
            for name, sql, params in statements:
                cursor.execute("EXPLAIN " + sql, params)
                plans[name] = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plans


def _votes(study, raters: int, each: int) -> None:
    for other in [join(study) for _ in range(raters)]:
        for _ in range(each):
            vote_record(
                rater=other,
                study=study,
                public_id=assignment_next(rater=other, study=study).pair.public_id,
                side_choice="A",
            )


@pytest.mark.django_db(transaction=True)
def test_the_vote_path_reads_the_raters_own_rows_in_a_study_newer_than_the_statistics():
    """The tables were last analyzed before this study opened, when they held only an older
    study's rows: the planner believes this study has none, so that its study_id is the most
    selective filter there is. Every statement of a vote and the next pair must still find the
    rater's rows through an index led by rater_id, not read the whole study's."""
    from django.db import connection

    _votes(study_with_pairs(n_prompts=40, n_candidates=4, votes_per_pair=5), 10, 20)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    study = study_with_pairs(n_prompts=60, n_candidates=4, votes_per_pair=5)
    _votes(study, 20, 10)
    rater = join(study)
    vote_record(
        rater=rater,
        study=study,
        public_id=assignment_next(rater=rater, study=study).pair.public_id,
        side_choice="B",
    )

    plans = _plans(study, rater)
    # The reservation's look-ups of the rater's rows: the model pairs they have seen.
    reservation = plans["reservation"]
    seen = reservation[reservation.index("CTE seen") : reservation.index("CTE pool")]

    for plan in (plans["vote"], plans["progress"], seen):
        for index in ("raters_assignment_study_id_", "raters_vote_study_id_"):
            assert f"using {index}" not in plan, plan


@pytest.mark.django_db(transaction=True)
def test_the_voting_statements_are_prepared_once_per_connection(client, settings):
    from django.db import connection

    study = study_with_pairs(n_prompts=10, n_candidates=3, votes_per_pair=3)
    rater = join(study)
    client.force_login(rater.user)
    url = reverse("raters:vote", args=[study.pk])

    def vote_twice() -> list[str]:
        for choice in ("A", "B"):
            public_id = assignment_next(rater=rater, study=study).pair.public_id
            response = client.post(
                url,
                {"pair": public_id, "choice": choice, "time_spent_ms": "4000"},
                headers={"X-Requested-With": "fetch"},
            )
            assert b"Vote recorded." in response.content
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [" ".join(row[0].split())[:30] for row in cursor.fetchall()]

    prepared = vote_twice()
    assert sorted(prepared) == [
        'SELECT (SELECT COUNT(*) FROM "',  # progress
        'SELECT m."id", m."rater_id", m',  # membership, rater and study
        "WITH held AS MATERIALIZED ( SE",  # the vote
        "WITH seen AS MATERIALIZED ( SE",  # the next pair
    ]

    connection.close()  # a new connection, with preparing turned off
    settings.DATABASE_PREPARED_STATEMENTS = False
    assert vote_twice() == []


@pytest.mark.django_db
def test_the_membership_look_up_loads_what_the_orm_loads():
    from raters.membership_lookup import membership_find
    from raters.models import Membership

    study = study_with_pairs(
        n_prompts=2, decision_constraints={"max_cost": 1.5, "nested": ["a", None]}
    )
    rater = join(study)
    join(study_with_pairs(n_prompts=1), rater)  # a second study of theirs
    outsider = join(study_with_pairs(n_prompts=1))

    found = membership_find(user_id=rater.user_id, study_id=study.pk)
    expected = Membership.objects.select_related("rater", "study").get(rater=rater, study=study)

    for mine, orm in ((found, expected), (found.rater, expected.rater)):
        assert mine.__dict__.keys() - {"_state"} >= {f.attname for f in type(orm)._meta.fields}
    for model_found, model_orm in (
        (found, expected),
        (found.rater, expected.rater),
        (found.study, expected.study),
    ):
        for field in type(model_orm)._meta.concrete_fields:
            assert getattr(model_found, field.attname) == getattr(model_orm, field.attname), field
    assert found.study.decision_constraints == {"max_cost": 1.5, "nested": ["a", None]}
    assert membership_find(user_id=outsider.user_id, study_id=study.pk) is None
    assert membership_find(user_id=rater.user_id, study_id=999_999) is None
    assert membership_find(user_id=rater.user_id, study_id=10**30) is None  # a URL's digits


# Sign-in, the membership, the rater's held pair with its texts, progress, and whether an undo
# is possible (the latest vote, the latest skip).
MAX_QUERIES_PAGE = 6


@pytest.mark.django_db(transaction=True)
def test_the_voting_page_with_a_held_pair_takes_at_most_six_queries(
    client, django_assert_max_num_queries
):
    study = study_with_pairs(n_prompts=5, n_candidates=3, votes_per_pair=3)
    rater = join(study)
    client.force_login(rater.user)
    url = reverse("raters:study", args=[study.pk])
    held = assignment_next(rater=rater, study=study)

    with django_assert_max_num_queries(MAX_QUERIES_PAGE):
        response = client.get(url)

    assert response.status_code == 200
    assert f'name="pair" value="{held.pair.public_id}"'.encode() in response.content
