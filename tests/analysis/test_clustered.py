"""Cluster-robust intervals: the same numbers as statsmodels' clustered logit, used by default."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from evaluations.analysis import VoteArrays, analyze
from evaluations.analysis.bradley_terry import ELO_SCALE


def _clustered_votes(seed: int = 3, raters: int = 12, prompts: int = 15) -> list[dict]:
    rng = np.random.default_rng(seed)
    strength = np.array([0.0, 0.3, 0.6, -0.2])
    rows = []
    for r in range(raters):
        taste = rng.normal(0, 0.6, len(strength))
        for _ in range(60):
            a, b = rng.choice(len(strength), 2, replace=False)
            d = strength[a] + taste[a] - strength[b] - taste[b]
            win = rng.random() < 1 / (1 + np.exp(-d))
            rows.append(
                {
                    "model_a": f"m{a}",
                    "model_b": f"m{b}",
                    "winner": "model_a" if win else "model_b",
                    "judge": f"r{r}",
                    "question_id": f"q{rng.integers(prompts)}",
                }
            )
    return rows


def _statsmodels_cov(votes: VoteArrays, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logit on e_a - e_b with the first model as reference; clustered, no df correction."""
    m = len(votes.models)
    x = np.zeros((len(votes), m))
    x[np.arange(len(votes)), votes.model_a] = 1
    x[np.arange(len(votes)), votes.model_b] = -1
    y = (votes.outcome == 0).astype(float)
    result = sm.Logit(y, x[:, 1:]).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}
    )
    return result.params, result.cov_params()


def _sm_cov(votes: VoteArrays, groups: np.ndarray) -> np.ndarray:
    g = len(np.unique(groups))
    return _statsmodels_cov(votes, groups)[1] * g / (g - 1)


@pytest.mark.parametrize("kind", ["rater", "prompt", "both"])
def test_clustered_standard_errors_match_statsmodels(kind: str) -> None:
    votes = VoteArrays.from_rows(_clustered_votes())
    document = analyze(votes, cluster=kind)
    assert document["interval"]["cluster"] == kind
    by_name = {row["model"]: row for row in document["models"]}
    ref = votes.models[0]
    params, _ = _statsmodels_cov(votes, votes.rater)
    if kind == "both":
        # Cameron-Gelbach-Miller from statsmodels' one-way parts, each with its G/(G-1).
        joint = np.unique(votes.rater * 1000 + votes.prompt, return_inverse=True)[1]
        cov = _sm_cov(votes, votes.rater) + _sm_cov(votes, votes.prompt) - _sm_cov(votes, joint)
    else:
        cov = _sm_cov(votes, votes.rater if kind == "rater" else votes.prompt)
    df = document["interval"]["degrees_of_freedom"]
    pair = {(p["model_a"], p["model_b"]): p for p in document["pairwise"]}
    for k, name in enumerate(votes.models[1:]):
        ours = (by_name[name]["rating"] - by_name[ref]["rating"]) / ELO_SCALE
        assert ours == pytest.approx(params[k], abs=1e-6)
        entry = pair.get((ref, name)) or pair[(name, ref)]
        se_ours = (
            abs(entry["rating_difference"]) / ELO_SCALE / stats.t.isf(entry["p_value"] / 2, df)
        )
        assert se_ours == pytest.approx(np.sqrt(cov[k, k]), rel=1e-5)


def test_default_clusters_two_way_when_votes_carry_raters_and_prompts() -> None:
    votes = VoteArrays.from_rows(_clustered_votes())
    document = analyze(votes)
    assert document["interval"]["cluster"] == "both"
    assert document["interval"]["clusters"] == {"rater": 12, "prompt": 15}
    assert document["interval"]["degrees_of_freedom"] == 11
    assert "raters like these" in document["interval"]["population"]
    plain = analyze(votes, cluster="none")
    assert plain["interval"]["population"].startswith("these raters and these prompts")
    # Rater tastes vary, so the clustered intervals are wider than the independent ones.
    wide = {r["model"]: r["ci_high"] - r["ci_low"] for r in document["models"]}
    narrow = {r["model"]: r["ci_high"] - r["ci_low"] for r in plain["models"]}
    assert all(wide[m] > narrow[m] for m in wide)


def test_cluster_option_without_raters_is_a_clear_error() -> None:
    rows = [{k: v for k, v in r.items() if k != "judge"} for r in _clustered_votes()]
    votes = VoteArrays.from_rows(rows)
    assert analyze(votes)["interval"]["cluster"] == "prompt"
    with pytest.raises(ValueError, match="raters"):
        analyze(votes, cluster="rater")


def test_cluster_bootstrap_resamples_raters_and_is_seeded() -> None:
    votes = VoteArrays.from_rows(_clustered_votes())
    first = analyze(votes, cluster="rater", bootstrap=200, seed=7)
    again = analyze(votes, cluster="rater", bootstrap=200, seed=7)
    assert first["interval"]["method"] == "cluster bootstrap percentile"
    assert first["models"] == again["models"]
    sandwich = analyze(votes, cluster="rater")
    boot = {r["model"]: r["ci_high"] - r["ci_low"] for r in first["models"]}
    robust = {r["model"]: r["ci_high"] - r["ci_low"] for r in sandwich["models"]}
    for name in boot:
        assert 0.5 < boot[name] / robust[name] < 1.6


def test_a_component_rated_by_a_single_rater_is_not_given_zero_width_intervals() -> None:
    # x-y voted on by r1 only, z-w by r2 only: two components, one rater each.
    rows = []
    for k in range(20):
        rows.append(
            {
                "model_a": "x",
                "model_b": "y",
                "winner": "model_a" if k % 3 else "model_b",
                "judge": "r1",
                "question_id": f"q{k % 5}",
            }
        )
        rows.append(
            {
                "model_a": "z",
                "model_b": "w",
                "winner": "model_b" if k % 4 else "model_a",
                "judge": "r2",
                "question_id": f"q{k % 5}",
            }
        )
    document = analyze(VoteArrays.from_rows(rows), cluster="rater")
    for row in document["models"]:
        assert row["ci_high"] - row["ci_low"] > 50
    assert any("single rater" in w for w in document["warnings"])
