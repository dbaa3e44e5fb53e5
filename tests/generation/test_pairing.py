from collections import Counter

import pytest

from evaluations.generation.pairing import PairingError, pair_set_gold, pairs_build
from evaluations.models import Output, Pair, Study
from tests.factories import CandidateFactory, OutputFactory, PromptFactory, StudyFactory

pytestmark = pytest.mark.django_db


def study_with_outputs(n_prompts: int, n_candidates: int, **study_fields) -> Study:
    study = StudyFactory(**study_fields)
    candidates = [CandidateFactory(study=study) for _ in range(n_candidates)]
    for i in range(n_prompts):
        prompt = PromptFactory(study=study, external_id=f"p{i}")
        for candidate in candidates:
            OutputFactory(prompt=prompt, candidate=candidate)
    return study


def test_all_pairs_are_built_per_prompt_among_finished_outputs():
    study = study_with_outputs(4, 3)
    Output.objects.filter(prompt__study=study).order_by("id").first()
    failed = Output.objects.filter(prompt__study=study).order_by("id").first()
    failed.status = Output.Status.FAILED
    failed.save()
    assert pairs_build(study=study) == 3 * 3 + 1
    for pair in Pair.objects.filter(study=study):
        assert pair.output_a.prompt_id == pair.output_b.prompt_id == pair.prompt_id
        assert Output.Status.DONE == pair.output_a.status == pair.output_b.status


def test_building_again_adds_only_pairs_for_newly_finished_outputs():
    study = study_with_outputs(3, 3)
    late = Output.objects.filter(prompt__study=study).order_by("id").last()
    late.status = Output.Status.PENDING
    late.save()
    first = pairs_build(study=study)
    assert pairs_build(study=study) == 0
    late.status = Output.Status.DONE
    late.save()
    assert pairs_build(study=study) == 2
    assert Pair.objects.filter(study=study).count() == first + 2
    unordered = Counter(
        frozenset(p) for p in Pair.objects.filter(study=study).values_list("output_a", "output_b")
    )
    assert max(unordered.values()) == 1


def test_each_candidate_is_a_about_half_the_time_over_many_prompts():
    study = study_with_outputs(60, 4, seed=7)
    pairs_build(study=study)
    as_a = Counter()
    appearances = Counter()
    for a, b in Pair.objects.filter(study=study).values_list(
        "output_a__candidate", "output_b__candidate"
    ):
        as_a[a] += 1
        appearances[a] += 1
        appearances[b] += 1
    for candidate, total in appearances.items():
        assert total == 180
        assert as_a[candidate] == 90  # balanced per candidate pairing, so exactly half


def test_the_first_created_candidate_is_not_always_a_on_a_single_prompt():
    sides = set()
    for seed in range(8):
        study = study_with_outputs(1, 2, seed=seed)
        pairs_build(study=study)
        pair = Pair.objects.get(study=study)
        sides.add(pair.output_a.candidate_id < pair.output_b.candidate_id)
    assert sides == {True, False}


def test_same_seed_gives_the_same_pairs():
    def layout(seed: int) -> list[tuple[str, str, str]]:
        study = study_with_outputs(10, 4, seed=seed, pairing_mode="balanced", pairs_per_prompt=2)
        pairs_build(study=study)
        labels = {c.pk: i for i, c in enumerate(study.candidates.order_by("id"))}
        prompts = {p.pk: i for i, p in enumerate(study.prompts.order_by("id"))}
        return [
            (prompts[p], labels[a], labels[b])
            for p, a, b in Pair.objects.filter(study=study)
            .order_by("id")
            .values_list("prompt", "output_a__candidate", "output_b__candidate")
        ]

    assert layout(3) == layout(3)
    assert layout(3) != layout(4)


def test_balanced_pairing_builds_the_wanted_number_per_prompt_and_spreads_them():
    study = study_with_outputs(30, 6, pairing_mode="balanced", pairs_per_prompt=3)
    assert pairs_build(study=study) == 90
    per_prompt = Counter(Pair.objects.filter(study=study).values_list("prompt", flat=True))
    assert set(per_prompt.values()) == {3}
    combos = Counter(
        frozenset(p)
        for p in Pair.objects.filter(study=study).values_list(
            "output_a__candidate", "output_b__candidate"
        )
    )
    assert len(combos) == 15  # every candidate pairing is used
    assert max(combos.values()) - min(combos.values()) <= 1
    appearances = Counter()
    for combo, n in combos.items():
        for candidate in combo:
            appearances[candidate] += n
    assert max(appearances.values()) - min(appearances.values()) <= 2
    assert pairs_build(study=study) == 0


def test_gold_answer_survives_a_rebuild_and_must_be_offered_by_the_study():
    study = study_with_outputs(2, 2, allow_tie=False)
    pairs_build(study=study)
    pair = Pair.objects.filter(study=study).first()
    pair_set_gold(pair=pair, answer=Pair.Answer.B)
    with pytest.raises(PairingError):
        pair_set_gold(pair=pair, answer=Pair.Answer.TIE)
    pairs_build(study=study)
    pair.refresh_from_db()
    assert pair.gold_answer == Pair.Answer.B
