import json
import random

import pytest
from django.core.management import CommandError, call_command

from evaluations.analysis import analyze
from research.reevaluation.comparing import CompareError, holm, studies_compare
from research.reevaluation.drift import candidates_drift
from research.results.aggregation import study_vote_arrays_aggregated
from tests.factories import (
    CandidateFactory,
    OutputFactory,
    PairFactory,
    PromptFactory,
    RaterFactory,
    StudyFactory,
    VoteFactory,
)
from tests.reevaluation.conftest import stub_candidate

pytestmark = pytest.mark.django_db


def voted(owner, slug: str, strength: dict[str, float], seed: int, raters):
    """Every model pair on 20 shared prompts, voted by each rater (Bradley-Terry, seeded)."""
    rng = random.Random(seed)
    study = StudyFactory(owner=owner, slug=slug)
    candidates = {name: CandidateFactory(study=study, label=name) for name in strength}
    names = list(strength)
    for p in range(20):
        prompt = PromptFactory(study=study, external_id=f"q{p}", text=f"Shared question {p}")
        outputs = {n: OutputFactory(prompt=prompt, candidate=c) for n, c in candidates.items()}
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                pair = PairFactory(
                    study=study, prompt=prompt, output_a=outputs[a], output_b=outputs[b]
                )
                p_a = 1 / (1 + 10 ** ((strength[b] - strength[a]) / 400))
                for rater in raters:
                    roll = rng.random()
                    choice = "tie" if roll > 0.9 else "a" if roll < 0.9 * p_a else "b"
                    VoteFactory(pair=pair, rater=rater, choice=choice)
    return study


@pytest.fixture
def two_studies(staff_user):
    raters = [RaterFactory() for _ in range(3)]
    before = voted(staff_user, "before", {"x": 0, "y": 0, "z": -150}, 1, raters)
    after = voted(staff_user, "after", {"x": 0, "y": 0, "z": 250}, 2, raters)
    return before, after


def test_comparing_two_studies_finds_the_model_that_changed(two_studies):
    before, after = two_studies
    document = studies_compare(study_a=before, study_b=after, anchor="x")
    rows = {row["model"]: row for row in document["models"]}
    assert document["shared_prompts"] == 20
    assert rows["z"]["significant"] and rows["z"]["difference"] > 200
    assert not rows["y"]["significant"]
    assert rows["x"]["difference"] == 0 and rows["x"]["p_value"] is None
    # Anchored on x, each side is what the analysis module gives with the same anchor.
    for study, side in ((before, "a"), (after, "b")):
        votes = study_vote_arrays_aggregated(study=study, excluded_raters=[])
        reference = {m["model"]: m for m in analyze(votes, anchor="x=1000")["models"]}
        assert rows["z"][side]["rating"] == pytest.approx(reference["z"]["rating"], abs=1e-6)
        assert rows["z"][side]["se"] == pytest.approx(reference["z"]["se"], rel=1e-6)
    se = (rows["z"]["a"]["se"] ** 2 + rows["z"]["b"]["se"] ** 2) ** 0.5
    assert rows["z"]["difference_se"] == pytest.approx(se)


def test_centred_comparison_puts_both_studies_on_the_shared_models_average(two_studies):
    before, after = two_studies
    rows = studies_compare(study_a=before, study_b=after)["models"]
    for side in ("a", "b"):
        assert sum(row[side]["rating"] for row in rows) / 3 == pytest.approx(1000)
    assert max(rows, key=lambda r: abs(r["difference"]))["model"] == "z"


def test_holm_adjustment_is_step_down_and_monotone():
    assert holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])


def test_studies_without_shared_prompts_or_models_are_not_compared(two_studies, staff_user):
    before, _ = two_studies
    other = StudyFactory(owner=staff_user)
    PromptFactory(study=other, external_id="elsewhere")
    with pytest.raises(CompareError, match="share no prompt"):
        studies_compare(study_a=before, study_b=other)
    with pytest.raises(CompareError, match="anchor"):
        studies_compare(study_a=before, study_b=before, anchor="nobody")


def test_compare_command_prints_the_table_and_flags_significant_rows(two_studies, capsys):
    call_command("compare_studies", "before", "after", "--anchor", "x")
    out = capsys.readouterr().out
    z_line = next(line for line in out.splitlines() if line.startswith("z "))
    assert z_line.endswith("*")
    call_command("compare_studies", "before", "after", "--json")
    assert json.loads(capsys.readouterr().out)["study_b"]["slug"] == "after"


def test_recorded_drift_is_reported_per_candidate(study):
    pinned = CandidateFactory(study=study, label="pinned", version="gpt-x-2024")
    steady = CandidateFactory(study=study, label="steady", version="m-1")
    for i in range(3):
        prompt = PromptFactory(study=study)
        OutputFactory(
            prompt=prompt,
            candidate=pinned,
            served_model="gpt-x-2025" if i else "gpt-x-2024",
            version_mismatch=bool(i),
        )
        OutputFactory(prompt=prompt, candidate=steady, served_model="m-1")
    rows = {row["label"]: row for row in candidates_drift(study=study)}
    assert rows["pinned"]["drift"] and rows["pinned"]["outputs_version_mismatch"] == 2
    assert rows["pinned"]["served_models"] == {"gpt-x-2025": 2, "gpt-x-2024": 1}
    assert not rows["steady"]["drift"]


def test_check_drift_reasks_pinned_candidates_and_reports_changes(study, reeval_stub, capsys):
    same = stub_candidate(study, "same", reeval_stub.base_url, version="same")
    moved = stub_candidate(study, "moved", reeval_stub.base_url, version="moved-2024")
    unpinned = CandidateFactory(study=study, label="unpinned", version="")
    reeval_stub.served_as["moved"] = "moved-2025"
    for i in range(4):
        prompt = PromptFactory(study=study, external_id=f"d{i}", text=f"Drift question {i}")
        # The stub answers "Answer from <model>: <prompt reversed>".
        OutputFactory(prompt=prompt, candidate=same,
                      raw_text=f"Answer from same: {prompt.text[::-1]}")  # fmt: skip
        OutputFactory(prompt=prompt, candidate=moved, raw_text="An older answer.")
        OutputFactory(prompt=prompt, candidate=unpinned)
    with pytest.raises(CommandError, match="2 of 4"):
        call_command("check_drift", study.slug, "--prompts", "2", "--fail-on-change")
    out = capsys.readouterr().out
    assert out.count("same / d") == 2 and "same / d0: unchanged" in out
    assert "moved / d0: CHANGED, served moved-2025 (pinned moved-2024)" in out
    assert len(reeval_stub.requests) == 4  # two prompts each, the unpinned one not asked
    assert (
        study.candidates.get(label="moved").outputs.filter(raw_text="An older answer.").count() == 4
    )
