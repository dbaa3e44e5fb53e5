"""votes_needed at a chosen power, anytime-valid tests, style control and PPI++ ratings."""

import numpy as np
import pytest
from scipy import stats

from evaluations.analysis import VoteArrays, analyze
from evaluations.analysis.bradley_terry_covariates import fit_bradley_terry_covariates
from evaluations.analysis.power import votes_needed
from evaluations.analysis.ppi import ppi_bradley_terry
from evaluations.analysis.sequential import anytime_p_value, confidence_sequence_halfwidth
from evaluations.analysis.style import text_style_features


def _rows(wins: dict[tuple[str, str], tuple[int, int]]) -> list[dict]:
    rows = []
    for (a, b), (wa, wb) in wins.items():
        rows += [{"model_a": a, "model_b": b, "winner": "model_a"}] * wa
        rows += [{"model_a": a, "model_b": b, "winner": "model_b"}] * wb
    return rows


def test_votes_needed_plans_for_the_requested_power() -> None:
    votes = VoteArrays.from_rows(_rows({("x", "y"): (57, 43)}))
    for power in (0.5, 0.8, 0.9):
        entry = analyze(votes, cluster="none", power=power)["votes_needed"][0]
        z = entry["z"]
        total = 100 + entry["additional_votes"]
        # With the same mix, z grows as sqrt(votes): at the new total it reaches 1.96 + z_power.
        target = stats.norm.ppf(0.975) + stats.norm.ppf(power)
        assert z * np.sqrt(total / 100) >= target > z * np.sqrt((total - 1) / 100)
        assert entry["power"] == power
    # The default is 80% power, not the 50% that z = 1.96 alone gives.
    default = analyze(votes, cluster="none")["votes_needed"][0]
    half = analyze(votes, cluster="none", power=0.5)["votes_needed"][0]
    assert default["additional_votes"] > 2 * half["additional_votes"]


def test_equal_looking_pair_cannot_be_separated_at_any_size() -> None:
    votes = VoteArrays.from_rows(_rows({("x", "y"): (51, 49)}))
    entry = analyze(votes)["votes_needed"][0]
    assert entry["additional_votes"] is None
    assert "cannot be separated at any size" in entry["message"]


def test_power_outside_zero_one_is_refused() -> None:
    votes = VoteArrays.from_rows(_rows({("x", "y"): (51, 49)}))
    with pytest.raises(ValueError, match="power"):
        analyze(votes, power=1.5)
    with pytest.raises(ValueError, match="power"):
        votes_needed(1.0, 1.0, 10, power=0, crit=1.96)


def test_anytime_p_value_is_above_the_fixed_sample_one_and_matches_its_boundary() -> None:
    se = np.array([30.0, 10.0, 3.0])
    width = confidence_sequence_halfwidth(se)
    # At the boundary of the confidence sequence the anytime p-value is exactly alpha.
    assert anytime_p_value(width, se) == pytest.approx([0.05] * 3, rel=1e-9)
    fixed = 2 * stats.norm.sf(width / se)
    assert (fixed < 0.05).all()
    assert anytime_p_value(np.zeros(3), se) == pytest.approx([1, 1, 1])


def test_pairwise_entries_carry_anytime_p_values_and_confidence_sequences() -> None:
    votes = VoteArrays.from_rows(_rows({("x", "y"): (70, 30), ("y", "z"): (50, 50)}))
    pair = analyze(votes)["pairwise"][0]
    assert pair["p_value_anytime"] > pair["p_value"]
    assert pair["cs_low"] < pair["ci_low"] < pair["ci_high"] < pair["cs_high"]
    assert pair["p_value_anytime_holm"] >= pair["p_value_anytime"]


def test_text_style_features_count_markdown() -> None:
    text = "# Title\n\nSome **bold** and __more__.\n\n- one\n- two\n1. three\n"
    assert text_style_features(text) == {
        "length": float(len(text)),
        "headers": 1.0,
        "lists": 3.0,
        "bold": 2.0,
    }


def test_style_control_removes_a_length_preference_from_the_ranking() -> None:
    # y is only preferred because its answers are longer; style control sees through it.
    rng = np.random.default_rng(5)
    rows = []
    for _ in range(3000):
        a, b = rng.choice(["x", "y", "z"], 2, replace=False)
        la = rng.uniform(300, 1500) if a == "y" else rng.uniform(200, 900)
        lb = rng.uniform(300, 1500) if b == "y" else rng.uniform(200, 900)
        p = 1 / (1 + np.exp(-1.2 * (la - lb) / (la + lb) * 2))
        rows.append(
            {
                "model_a": a,
                "model_b": b,
                "winner": "model_a" if rng.random() < p else "model_b",
                "length_a": la,
                "length_b": lb,
                "judge": f"r{rng.integers(30)}",
                "question_id": f"q{rng.integers(40)}",
            }
        )
    document = analyze(VoteArrays.from_rows(rows))
    style = document["style_control"]
    assert style["features"] == ["length"]
    length = style["coefficients"][0]
    assert length["ci_low"] > 0
    plain = {r["model"]: r["rating"] for r in document["models"]}
    controlled = {r["model"]: r for r in style["models"]}
    assert plain["y"] - plain["x"] > 50
    # All three are equally good once length is held equal: every interval covers the centre.
    for name in ("x", "y", "z"):
        assert controlled[name]["ci_low"] < 1000 < controlled[name]["ci_high"]
    assert controlled["y"]["plain_rating"] == pytest.approx(plain["y"])


def test_researcher_named_style_feature_is_read_and_unknown_one_refused() -> None:
    rows = [
        {"model_a": "x", "model_b": "y", "winner": w, "emoji_a": ea, "emoji_b": eb}
        for w, ea, eb in [("model_a", 3, 0), ("model_b", 0, 2), ("model_a", 1, 1)] * 20
    ]
    votes = VoteArrays.from_rows(rows, features=["emoji"])
    assert set(votes.features) == {"emoji"}
    with pytest.raises(ValueError, match="style feature sparkle"):
        analyze(votes, style_features=["sparkle"])


def _ppi_data(rng: np.random.Generator, n: int, big_n: int, agreement: float) -> tuple:
    m = 5
    theta = np.linspace(-0.6, 0.6, m)
    total = n + big_n
    a = rng.integers(0, m, total)
    b = (a + rng.integers(1, m, total)) % m
    y = (rng.random(total) < 1 / (1 + np.exp(-(theta[a] - theta[b])))).astype(float)
    f = np.where(rng.random(total) < agreement, y, 1 - y)
    human = y.copy()
    human[n:] = np.nan
    return a, b, f, human, theta - theta.mean(), m


def test_ppi_with_a_useless_judge_falls_back_to_the_humans() -> None:
    rng = np.random.default_rng(1)
    a, b, f, human, _, m = _ppi_data(rng, 400, 4000, 0.5)
    fit = ppi_bradley_terry(a, b, f, human, m)
    assert fit.tuning < 0.2
    assert fit.effective_human_votes == pytest.approx(400, rel=0.1)


def test_ppi_with_a_good_judge_is_narrower_and_reports_effective_votes() -> None:
    rng = np.random.default_rng(2)
    a, b, f, human, _, m = _ppi_data(rng, 400, 8000, 0.9)
    fit = ppi_bradley_terry(a, b, f, human, m)
    assert fit.tuning > 0.5
    assert np.trace(fit.cov) < 0.6 * np.trace(fit.human_only_cov)
    assert fit.effective_human_votes > 1.5 * 400


def test_ppi_without_tuning_equals_the_human_only_fit() -> None:
    rng = np.random.default_rng(3)
    a, b, f, human, _, m = _ppi_data(rng, 300, 1000, 0.8)
    fit = ppi_bradley_terry(a, b, f, human, m, tuning=0.0)
    lab = np.isfinite(human)
    plain = fit_bradley_terry_covariates(
        a[lab], b[lab], human[lab], np.ones(lab.sum()), np.zeros((lab.sum(), 0)), m
    )
    assert fit.theta == pytest.approx(plain.theta, abs=1e-8)
    # Same sandwich, but PPI estimates the information from all rows, the plain fit from the
    # labelled ones: the variances agree to sampling error.
    assert np.diag(fit.cov) == pytest.approx(np.diag(plain.cov), rel=0.25)


def test_style_feature_confounded_with_the_models_gives_a_message_not_wild_ratings() -> None:
    # Every answer of y is long, every answer of x short: style and model cannot be told apart.
    rng = np.random.default_rng(8)
    rows = []
    for _ in range(300):
        a, b = rng.choice(["x", "y", "z"], 2, replace=False)
        size = {"x": 200, "y": 900, "z": 500}
        rows.append(
            {
                "model_a": a,
                "model_b": b,
                "winner": "model_a" if rng.random() < 0.5 else "model_b",
                "length_a": size[a],
                "length_b": size[b],
            }
        )
    style = analyze(VoteArrays.from_rows(rows))["style_control"]
    assert "models" not in style
    assert "almost determined by which models are compared" in style["message"]
