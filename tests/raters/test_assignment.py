import random
import threading
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from evaluations.models import Pair, Study
from raters.assignment import (
    RESERVATION_TTL,
    assignment_next,
    assignment_skip,
)
from raters.models import Assignment, Vote
from raters.progress import rater_progress
from raters.voting import vote_record
from tests.raters.conftest import join, study_with_pairs


def vote_on(assignment: Assignment, choice: str = "A") -> Vote:
    return vote_record(
        rater=assignment.rater,
        study=assignment.study,
        public_id=assignment.pair.public_id,
        side_choice=choice,
    ).vote


@pytest.mark.django_db
def test_twenty_interleaved_raters_fill_every_pair_to_target_and_never_past_it():
    study = study_with_pairs(n_prompts=40, n_candidates=4, pairs_per_prompt=5, votes_per_pair=3)
    assert study.pairs.count() == 200
    raters = [join(study) for _ in range(20)]
    rng = random.Random(7)
    active = list(raters)
    seen: dict[int, list[int]] = defaultdict(list)
    while active:
        rater = rng.choice(active)
        assignment = assignment_next(rater=rater, study=study)
        if assignment is None:
            active.remove(rater)
            continue
        seen[rater.pk].append(assignment.pair_id)
        vote_on(assignment, rng.choice(["A", "B", "tie"]))

    per_pair = Counter(Vote.objects.filter(study=study).values_list("pair_id", flat=True))
    assert len(per_pair) == 200
    assert set(per_pair.values()) == {3}
    for pair_ids in seen.values():
        assert len(pair_ids) == len(set(pair_ids)), "a rater saw a pair twice"
    # Each output shown left about half the time: 600 votes, so within binomial bounds.
    left_is_a = sum(
        1
        for vote in Vote.objects.filter(study=study).select_related("pair")
        if vote.left_output_id == vote.pair.output_a_id
    )
    assert abs(left_is_a - 300) <= 3 * (600 * 0.25) ** 0.5
    # Work is spread: no rater did more than twice their fair share.
    per_rater = Counter(Vote.objects.filter(study=study).values_list("rater_id", flat=True))
    assert max(per_rater.values()) <= 2 * 600 / 20


@pytest.mark.django_db
def test_each_pair_is_shown_left_and_right_equally_often_across_its_raters():
    study = study_with_pairs(n_prompts=2, n_candidates=2, votes_per_pair=10)
    raters = [join(study) for _ in range(10)]
    for rater in raters:
        for _ in range(2):
            vote_on(assignment_next(rater=rater, study=study))
    for pair in Pair.objects.filter(study=study):
        sides = Counter(Vote.objects.filter(pair=pair).values_list("left_output_id", flat=True))
        assert sides[pair.output_a_id] == sides[pair.output_b_id] == 5


@pytest.mark.django_db
def test_the_same_pair_comes_back_until_the_rater_acts_on_it(open_study, rater):
    first = assignment_next(rater=rater, study=open_study)
    again = assignment_next(rater=rater, study=open_study)
    assert again.pk == first.pk
    assert Assignment.objects.filter(rater=rater).count() == 1


@pytest.mark.django_db
def test_a_reservation_holds_the_last_place_against_a_second_rater():
    study = study_with_pairs(n_prompts=1, n_candidates=2, votes_per_pair=1)
    first, second = join(study), join(study)
    assert assignment_next(rater=first, study=study) is not None
    assert assignment_next(rater=second, study=study) is None


@pytest.mark.django_db
def test_an_expired_reservation_frees_the_pair_for_someone_else():
    study = study_with_pairs(n_prompts=1, n_candidates=2, votes_per_pair=1)
    first, second = join(study), join(study)
    held = assignment_next(rater=first, study=study)
    later = timezone.now() + RESERVATION_TTL + timedelta(seconds=1)
    taken = assignment_next(rater=second, study=study, now=later)
    assert taken is not None and taken.pair_id == held.pair_id
    # The first rater's stale reservation is dropped rather than renewed past the target.
    assert assignment_next(rater=first, study=study, now=later) is None


@pytest.mark.django_db
def test_a_skipped_pair_is_never_offered_again_and_frees_its_place(open_study, rater):
    skipped = assignment_next(rater=rater, study=open_study)
    assert assignment_skip(rater=rater, study=open_study, public_id=skipped.pair.public_id)
    offered = set()
    while (assignment := assignment_next(rater=rater, study=open_study)) is not None:
        offered.add(assignment.pair_id)
        vote_on(assignment)
    assert skipped.pair_id not in offered
    assert len(offered) == open_study.pairs.count() - 1


@pytest.mark.django_db
def test_fewest_votes_first_and_balanced_across_model_pairs():
    study = study_with_pairs(n_prompts=6, n_candidates=3, votes_per_pair=2)
    rater = join(study)
    model_pairs = []
    for _ in range(6):
        assignment = assignment_next(rater=rater, study=study)
        pair = assignment.pair
        model_pairs.append(frozenset({pair.output_a.candidate_id, pair.output_b.candidate_id}))
        vote_on(assignment)
    # Six votes over three model pairs: two each, not six on one.
    assert set(Counter(model_pairs).values()) == {2}


@pytest.mark.django_db
def test_gold_pairs_are_mixed_in_at_about_the_study_rate():
    study = study_with_pairs(n_prompts=60, n_candidates=2, votes_per_pair=1, gold_rate=0.2)
    gold_ids = list(study.pairs.values_list("pk", flat=True)[:20])
    Pair.objects.filter(pk__in=gold_ids).update(gold_answer=Pair.Answer.A)
    rater = join(study)
    for _ in range(30):
        vote_on(assignment_next(rater=rater, study=study))
    gold_votes = Vote.objects.filter(rater=rater, pair__pk__in=gold_ids).count()
    # 30 draws at 20 %: mean 6, three standard deviations is about 6.6.
    assert 1 <= gold_votes <= 13


@pytest.mark.django_db
def test_gold_pairs_ignore_the_votes_per_pair_target():
    study = study_with_pairs(n_prompts=1, n_candidates=2, votes_per_pair=1, gold_rate=1.0)
    Pair.objects.filter(study=study).update(gold_answer=Pair.Answer.B)
    for _ in range(3):
        rater = join(study)
        assert assignment_next(rater=rater, study=study) is not None
        vote_on(assignment_next(rater=rater, study=study))
    assert Vote.objects.filter(study=study).count() == 3


@pytest.mark.django_db
def test_adaptive_mode_prefers_the_models_hardest_to_tell_apart():
    study = study_with_pairs(
        n_prompts=12, n_candidates=3, votes_per_pair=5, adaptive_assignment=True
    )
    candidates = list(study.candidates.order_by("pk"))
    strong, close_a, close_b = candidates
    # One round of votes: the strong model wins everything; the other two split evenly.
    seeders = [join(study) for _ in range(2)]
    for pair in Pair.objects.filter(study=study).select_related("output_a", "output_b"):
        ca, cb = pair.output_a.candidate_id, pair.output_b.candidate_id
        for i, seeder in enumerate(seeders):
            if strong.pk in (ca, cb):
                winner = Vote.Choice.A if ca == strong.pk else Vote.Choice.B
            else:
                winner = Vote.Choice.A if i == 0 else Vote.Choice.B
            Vote.objects.create(
                study=study, pair=pair, rater=seeder, choice=winner, left_output=pair.output_a
            )
    rater = join(study)
    assignment = assignment_next(rater=rater, study=study)
    picked = {assignment.pair.output_a.candidate_id, assignment.pair.output_b.candidate_id}
    assert picked == {close_a.pk, close_b.pk}


@pytest.mark.django_db
def test_progress_counts_own_votes_and_what_is_still_open(open_study, rater):
    before = rater_progress(rater=rater, study=open_study)
    assert before.voted == 0 and before.available == open_study.pairs.count()
    vote_on(assignment_next(rater=rater, study=open_study))
    after = rater_progress(rater=rater, study=open_study)
    assert after.voted == 1 and after.available == open_study.pairs.count()


@pytest.mark.django_db
def test_nothing_is_assigned_in_a_study_that_is_not_open(rater, open_study):
    Study.objects.filter(pk=open_study.pk).update(status=Study.Status.CLOSED)
    open_study.refresh_from_db()
    assert assignment_next(rater=rater, study=open_study) is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_raters_never_overshoot_the_target():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite serialises writers anyway (CI uses PG)")
    study = study_with_pairs(n_prompts=5, n_candidates=2, votes_per_pair=2)
    raters = [join(study) for _ in range(8)]
    barrier = threading.Barrier(len(raters))
    errors: list[BaseException] = []

    def work(rater):
        try:
            barrier.wait(timeout=30)
            while (assignment := assignment_next(rater=rater, study=study)) is not None:
                vote_on(assignment)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(r,)) for r in raters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    counts = Vote.objects.filter(study=study).values("pair").annotate(n=Count("pk"))
    assert sorted(row["n"] for row in counts) == [2] * 5
