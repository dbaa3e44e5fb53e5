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
