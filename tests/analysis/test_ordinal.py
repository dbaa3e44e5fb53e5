"""Issue 20, strength: the cumulative-logit Bradley-Terry against statsmodels' OrderedModel, and
the ordinal Krippendorff alpha of five-point answers against the krippendorff package."""

import json

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.miscmodels.ordinal_model import OrderedModel

from evaluations.analysis import VoteArrays, analyze
from evaluations.analysis.ordinal import fit_ordinal_bradley_terry, ordinal_alpha, ordinal_levels

CUTS = np.array([-2.0, -0.7, 0.7, 2.0])


def simulated(n: int, strengths: np.ndarray, seed: int = 1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    m = len(strengths)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    level = ((rng.logistic(size=n) + strengths[a] - strengths[b])[:, None] > CUTS).sum(axis=1)
    return a, b, level


def test_strengths_cut_points_and_standard_errors_equal_statsmodels_ordered_logit() -> None:
    strengths = np.array([0.0, 0.5, 1.0, -0.3, 0.2])
    a, b, level = simulated(800, strengths)
    fit = fit_ordinal_bradley_terry(a, b, level, 5)
    m = len(strengths)
    design = np.zeros((len(a), m))
    design[np.arange(len(a)), a] += 1
    design[np.arange(len(a)), b] -= 1
    reference = OrderedModel(level, design[:, 1:], distr="logit").fit(
        method="bfgs", disp=False, maxiter=2000, gtol=1e-8
    )
    beta = reference.params[: m - 1]
    cuts = reference.model.transform_threshold_params(reference.params)[1:-1]
    assert fit["s_reference"][1:] == pytest.approx(beta, abs=1e-4)
    assert fit["cuts"] == pytest.approx(cuts, abs=1e-4)
    assert np.sqrt(np.diag(fit["cov_reference"])) == pytest.approx(reference.bse[: m - 1], rel=1e-3)
    assert fit["loglik"] == pytest.approx(reference.llf, abs=1e-6)
    assert fit["method"] == "maximum likelihood"


def test_with_two_levels_it_is_bradley_terry() -> None:
    from evaluations.analysis import fit_bradley_terry

    a, b, level = simulated(600, np.array([0.0, 0.8, -0.4]), seed=3)
    decisive = level != 2
    won = (level > 2).astype(np.int64)[decisive]
    # Each vote also seen from the other side: the cut-point (a first-side advantage, which
    # Bradley-Terry does not have) is then exactly 0 and the strengths are Bradley-Terry's.
    a, b = np.r_[a[decisive], b[decisive]], np.r_[b[decisive], a[decisive]]
    won = np.r_[won, 1 - won]
    fit = fit_ordinal_bradley_terry(a, b, won, 3)
    assert fit["cuts"] == pytest.approx([0.0], abs=1e-6)
    bt = fit_bradley_terry(a, b, won.astype(float), np.ones(len(won)), 3)
    assert fit["s"] == pytest.approx(bt.theta, abs=1e-4)
    assert np.diag(fit["cov"]) == pytest.approx(np.diag(bt.fisher_cov), rel=1e-3)


def test_a_model_that_never_loses_gets_a_map_fit_with_finite_numbers() -> None:
    a = np.array([0, 0, 0, 1, 1, 2])
    b = np.array([1, 2, 1, 2, 2, 0])
    level = np.array([4, 3, 4, 2, 3, 0])  # model 0 always preferred
    fit = fit_ordinal_bradley_terry(a, b, level, 3)
    assert fit["method"] == "MAP"
    assert np.isfinite(fit["s"]).all() and np.isfinite(fit["cov"]).all()


def five_point_votes(seed: int = 5) -> VoteArrays:
    rng = np.random.default_rng(seed)
    rows = []
    for item in range(40):
        a, b = rng.choice(["m1", "m2", "m3"], 2, replace=False)
        lean = rng.integers(0, 5)
        for rater in range(3):
            level = int(np.clip(lean + rng.integers(-1, 2), 0, 4))
            winner, strength = [("b", 2), ("b", 1), ("tie", ""), ("a", 1), ("a", 2)][level]
            rows.append(
                {
                    "model_a": a,
                    "model_b": b,
                    "winner": winner,
                    "strength": strength,
                    "judge": f"r{rater}",
                    "question_id": f"q{item}",
                }
            )
    return VoteArrays.from_rows(rows)


def test_ordinal_alpha_of_five_point_answers_equals_the_krippendorff_package() -> None:
    votes = five_point_votes()
    level = ordinal_levels(votes.outcome, votes.strength)
    # Reliability data: raters x units, each answer oriented to the model first by name.
    names = np.asarray(votes.models)
    flip = names[votes.model_a] > names[votes.model_b]
    oriented = np.where(flip, 4 - level, level)
    data = np.full((len(votes.raters), len(votes.items)), np.nan)
    data[votes.rater, votes.item] = oriented
    expected = krippendorff.alpha(
        reliability_data=data, level_of_measurement="ordinal", value_domain=[0, 1, 2, 3, 4]
    )
    assert ordinal_alpha(votes, level) == pytest.approx(expected, abs=1e-9)


def test_the_ordinal_alpha_of_votes_reproduces_krippendorffs_published_example(refdata) -> None:
    # Krippendorff (2011), C.4: four observers, twelve units, values 1..5: ordinal alpha 0.815.
    # Each value becomes a five-point vote on one pair (1: b much better ... 5: a much better).
    path = refdata / "krippendorff_examples" / "k2011_4observers_12units.csv"
    lines = path.read_text().splitlines()
    units = lines[0].split(",")[1:]
    answers = [("b", 2), ("b", 1), ("tie", ""), ("a", 1), ("a", 2)]
    rows = []
    for line in lines[1:]:
        observer, *values = line.split(",")
        for unit, value in zip(units, values, strict=True):
            if value.strip():
                winner, strength = answers[int(value) - 1]
                rows.append(
                    {
                        "model_a": "m1",
                        "model_b": "m2",
                        "winner": winner,
                        "strength": strength,
                        "judge": observer,
                        "question_id": unit,
                    }
                )
    votes = VoteArrays.from_rows(rows)
    expected = _expected_ordinal(refdata)
    alpha = ordinal_alpha(votes, ordinal_levels(votes.outcome, votes.strength))
    assert alpha == pytest.approx(expected, abs=5e-4)
    assert alpha == pytest.approx(0.815, abs=5e-4)


def _expected_ordinal(refdata) -> float:
    import json

    expected = json.loads((refdata / "krippendorff_examples" / "expected.json").read_text())
    return expected["k2011_4observers_12units.csv"]["expected"]["ordinal"]


def test_analyze_reports_an_ordinal_block_and_one_per_criterion() -> None:
    votes = five_point_votes()
    rows = []
    for k in range(len(votes)):
        for criterion in ("", "accuracy"):
            rows.append(
                {
                    "model_a": votes.models[votes.model_a[k]],
                    "model_b": votes.models[votes.model_b[k]],
                    "winner": ["a", "b", "tie", "both_bad"][votes.outcome[k]],
                    "strength": int(votes.strength[k]) or "",
                    "judge": votes.raters[votes.rater[k]],
                    "question_id": votes.items[votes.item[k]],
                    "criterion": criterion,
                }
            )
    document = analyze(VoteArrays.from_rows(rows))
    assert document["summary"]["votes"] == len(votes)
    assert document["ordinal"]["votes"] == len(votes)
    block = document["criteria"]["accuracy"]
    assert block["votes"] == len(votes)
    assert block["ordinal"]["krippendorff_alpha_ordinal"] == pytest.approx(
        document["ordinal"]["krippendorff_alpha_ordinal"]
    )
    assert [r["model"] for r in block["models"]] == [r["model"] for r in document["models"]]
    assert "ordinal" in document and "criteria" in document


@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["m1", "m2", "m3"]),
            st.sampled_from(["m1", "m2", "m3"]),
            st.sampled_from(["a", "b", "tie", "both_bad"]),
            st.sampled_from(["", "1", "2"]),
            st.sampled_from(["r1", "r2"]),
            st.sampled_from(["q1", "q2"]),
            st.sampled_from(["", "accuracy"]),
        ),
        max_size=30,
    ),
    both_bad=st.sampled_from(["tie", "exclude"]),
)
@settings(max_examples=150, deadline=None)
def test_any_votes_with_strength_and_criteria_give_a_document_and_never_fail(rows, both_bad):
    votes = [
        {
            "model_a": a,
            "model_b": b,
            "winner": w,
            "strength": s,
            "judge": r,
            "question_id": q,
            "criterion": c,
        }
        for a, b, w, s, r, q, c in rows
        if a != b
    ]
    if not votes:
        return
    document = analyze(VoteArrays.from_rows(votes), both_bad=both_bad)
    json.dumps(document, allow_nan=False)
    assert "ordinal" in document
