"""Copies of the pair's candidates and prompt on each vote, and the ranking cells on them."""

import importlib
import json
from collections import Counter

import pytest
from django.db import connection

from raters.assignment import assignment_next
from raters.models import Membership, Vote
from raters.voting import vote_record
from research.results.aggregation import ResultOptions, study_ranking_json, study_vote_cells
from research.results.cache_versioning import results_invalidate
from tests.api.conftest import add_gold_pair
from tests.raters.conftest import join, study_with_pairs

BACKFILL = importlib.import_module("raters.migrations.0004_vote_denormalized_cells").BACKFILL


def copies(study) -> list[tuple]:
    return list(
        Vote.objects.filter(study=study)
        .order_by("pk")
        .values_list("candidate_a_id", "candidate_b_id", "prompt_id")
    )


def from_pairs(study) -> list[tuple]:
    return list(
        Vote.objects.filter(study=study)
        .order_by("pk")
        .values_list("pair__output_a__candidate_id", "pair__output_b__candidate_id", "pair__prompt")
    )


def reference_cells(study, excluded: frozenset[int] = frozenset()) -> Counter:
    """The cells counted vote by vote through the pairs, as the ranking must see them."""
    rows = (
        Vote.objects.filter(study=study)
        .exclude(rater_id__in=excluded)
        .values_list(
            "pair__output_a__candidate_id",
            "pair__output_b__candidate_id",
            "choice",
            "pair__prompt__category",
            "pair__gold_answer",
            "turn",
        )
    )
    return Counter(rows)


def cells(study, excluded: frozenset[int] = frozenset()) -> Counter:
    return Counter(
        {
            tuple(key): n
            for *key, n in study_vote_cells(study=study, excluded_raters=sorted(excluded))
        }
    )


@pytest.mark.django_db
def test_votes_recorded_by_raters_carry_their_pairs_candidates_and_prompt():
    study = study_with_pairs(n_prompts=3, n_candidates=4)
    sides = ["A", "B", "tie", "both_bad"]
    for r in range(2):
        rater = join(study)
        k = 0
        while (assignment := assignment_next(rater=rater, study=study)) is not None:
            outcome = vote_record(
                rater=rater,
                study=study,
                public_id=assignment.pair.public_id,
                side_choice=sides[(k + r) % 4],
            )
            assert outcome.created
            k += 1
    votes = copies(study)
    assert len(votes) == 2 * study.pairs.count() == 2 * 3 * 6
    assert all(None not in row for row in votes)
    assert votes == from_pairs(study)
    # A swap of a and b would still match as a set: the pairs' candidates really differ.
    assert all(a != b for a, b, _ in votes)


@pytest.mark.django_db
def test_the_migration_backfill_copies_every_votes_pair_candidates_and_prompt(voted_study):
    Vote.objects.filter(study=voted_study).update(candidate_a=None, candidate_b=None, prompt=None)
    with connection.cursor() as cursor:
        cursor.execute(BACKFILL)
    assert copies(voted_study) == from_pairs(voted_study)


@pytest.mark.django_db
def test_ranking_cells_match_the_votes_counted_one_by_one_through_their_pairs(voted_study):
    rater = Membership.objects.filter(study=voted_study).order_by("pk").first().rater
    add_gold_pair(voted_study, rater, answer="a", choice="b")
    add_gold_pair(voted_study, rater, answer="tie", choice="tie")
    everyone = cells(voted_study)
    assert everyone == reference_cells(voted_study)
    assert sum(n for key, n in everyone.items() if key[4]) == 2
    assert cells(voted_study, frozenset({rater.pk})) == reference_cells(
        voted_study, frozenset({rater.pk})
    )


@pytest.mark.django_db
def test_votes_written_without_the_copies_rank_exactly_as_copied_ones(voted_study):
    some_rater = Membership.objects.filter(study=voted_study).values_list("rater_id", flat=True)[0]
    options = ResultOptions(exclude_raters=(some_rater,))
    copied = json.loads(study_ranking_json(study=voted_study, options=options))
    reference = reference_cells(voted_study)
    # As a bulk writer that knows nothing of the copies would leave half of the votes.
    ids = list(Vote.objects.filter(study=voted_study).order_by("pk").values_list("pk", flat=True))
    half = Vote.objects.filter(pk__in=ids[::2])
    assert half.update(candidate_a=None, candidate_b=None, prompt=None) == (len(ids) + 1) // 2
    assert cells(voted_study) == reference
    results_invalidate(study_id=voted_study.pk)  # a queryset update sends no signals
    mixed = json.loads(study_ranking_json(study=voted_study, options=options))
    assert mixed["models"] == copied["models"]
    assert mixed["summary"] == copied["summary"]
