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


@pytest.mark.django_db
def test_a_reservation_colliding_with_one_from_another_tab_takes_the_next_pair(monkeypatch):
    from django.utils import timezone

    from raters import assignment as assignment_module
    from raters.assignment import RESERVATION_TTL
    from raters.models import Assignment
    from tests.raters.test_hot_path import exact_loads, stored_loads

    study = study_with_pairs(n_prompts=3, n_candidates=3, votes_per_pair=2)
    rater = join(study)
    rank = assignment_module._rank_candidates
    collided = []

    def rank_then_collide(*, study, rater, pool):
        ranked = rank(study=study, rater=rater, pool=pool)
        if not collided:  # the other tab reserves the best pair between lock and insert
            collided.append(ranked[0].pair_id)
            Assignment.objects.create(
                study=study,
                pair_id=ranked[0].pair_id,
                rater=rater,
                left_output_id=ranked[0].output_a_id,
                expires_at=timezone.now() + RESERVATION_TTL,
            )
            assignment_module.pair_load_adjust(ranked[0].pair_id, +1)
        return ranked

    monkeypatch.setattr(assignment_module, "_rank_candidates", rank_then_collide)

    assignment = assignment_next(rater=rater, study=study)

    assert collided and assignment is not None and assignment.pair_id != collided[0]
    assert Assignment.objects.filter(rater=rater).count() == 2
    assert stored_loads(study) == exact_loads(study)
