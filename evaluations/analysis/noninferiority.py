"""Is a model not worse than the best by more than a margin? A one-sided non-inferiority test on
the Bradley-Terry rating difference, Holm-corrected across the candidates tested.

For candidate k against the best model, d_k = rating_k - rating_best (Elo points, <= 0 when the
best is best) with standard error se_k. The margin delta > 0 says how much worse is acceptable.

    H0: d_k <= -delta  (worse by the margin or more)    H1: d_k > -delta  (non-inferior)
    statistic (d_k + delta) / se_k, one-sided p = P(Z > statistic), Z normal or t(df)

The win probability P(k beats best) = 1 / (1 + 10^(-d/400)) is monotone in d, so the test is
equally one on the pairwise win probability: "at most N percentage points of win probability
below the best" is the margin 0.5 - N/100 on that probability, delta = 400 log10(1/p - 1)
Elo at p = 0.5 - N/100. Holm's step-down over the K candidates keeps the probability of
accepting any model that is in truth worse by the margin or more at most alpha.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from evaluations.analysis.power import DEFAULT_POWER, votes_needed

ALPHA = 0.05


def margin_from_win_probability_points(points: float) -> float:
    """Elo margin for "at most `points` percentage points of win probability below the best"."""
    if not 0 < points < 50:
        raise ValueError("a win-probability margin must be between 0 and 50 percentage points")
    p = 0.5 - points / 100
    return float(400 * math.log10(1 / p - 1))


def holm_adjust(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the given order."""
    p_values = np.asarray(p_values, dtype=float)
    n = len(p_values)
    adjusted = np.empty(n)
    running = 0.0
    for rank, k in enumerate(np.argsort(p_values, kind="stable")):
        running = max(running, min(1.0, (n - rank) * p_values[k]))
        adjusted[k] = running
    return adjusted


def noninferiority_test(
    differences: np.ndarray,
    se: np.ndarray,
    margin: float,
    *,
    df: int | None = None,
    alpha: float = ALPHA,
) -> list[dict[str, Any]]:
    """One entry per candidate: `statistic`, `p_value`, `p_value_holm` and `non_inferior`.

    `differences` are candidate minus best (Elo), `se` their standard errors, `margin` the Elo
    margin (> 0), `df` the t degrees of freedom of clustered intervals (None: normal). A
    candidate whose difference has no standard error (se 0 or not finite) cannot be tested:
    its p-values are None, it is not declared non-inferior, and it is left out of the Holm
    family.
    """
    if not margin > 0 or not math.isfinite(margin):
        raise ValueError("the margin must be a positive number of rating points")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    differences = np.asarray(differences, dtype=float)
    se = np.asarray(se, dtype=float)
    testable = np.isfinite(se) & (se > 0) & np.isfinite(differences)
    statistic = np.full(len(differences), np.nan)
    statistic[testable] = (differences[testable] + margin) / se[testable]
    p = np.full(len(differences), np.nan)
    tail = stats.t.sf if df else stats.norm.sf
    p[testable] = tail(statistic[testable], df) if df else tail(statistic[testable])
    p_holm = np.full(len(differences), np.nan)
    p_holm[testable] = holm_adjust(p[testable])
    return [
        {
            "statistic": float(statistic[k]) if testable[k] else None,
            "p_value": float(p[k]) if testable[k] else None,
            "p_value_holm": float(p_holm[k]) if testable[k] else None,
            "non_inferior": bool(testable[k] and p_holm[k] < alpha),
        }
        for k in range(len(differences))
    ]


def noninferiority_votes_needed(
    difference: float,
    se: float,
    margin: float,
    total_votes: float,
    *,
    candidates: int,
    df: int | None = None,
    alpha: float = ALPHA,
    power: float = DEFAULT_POWER,
) -> dict[str, Any]:
    """More votes (in the current mix) that would show non-inferiority with probability
    `power`, taking the estimated difference for the true one, at the Bonferroni level
    alpha / candidates (Holm's first step, so the plan is conservative)."""
    if se <= 0 or not math.isfinite(se):
        return {"additional_votes": None, "message": "no standard error: no plan possible"}
    distance = difference + margin
    if distance <= 0:
        return {
            "additional_votes": None,
            "message": "estimated worse than the best by the margin or more: more votes would "
            "not show it is good enough",
        }
    if distance / se < 1:
        return {
            "additional_votes": None,
            "message": "cannot be decided at any size: the estimate is within one standard error "
            "of the margin, so the true difference may be exactly the margin",
        }
    level = alpha / max(candidates, 1)
    crit = float(stats.t.isf(level, df) if df else stats.norm.isf(level))
    return votes_needed(distance, se, total_votes, power=power, crit=crit)


def noninferiority_against_best(
    document: dict[str, Any], margin: float, *, alpha: float = ALPHA
) -> dict[str, Any]:
    """Every rated model tested against the top-rated one of an `analyze` document.

    Returns `best` (None without a rated model) and `models`: per model name its
    `rating_difference` to the best, `se`, `win_probability` against it with `ci_low`,
    `ci_high`, `votes` with the best, the test's `statistic`, `p_value`, `p_value_holm` and
    `non_inferior` (the best itself: difference 0 and non-inferior by definition). Models in
    another connected piece of the comparison graph than the best cannot be compared with it:
    they are not tested and carry a `message`.
    """
    rated = [m for m in document.get("models", []) if m.get("rating") is not None]
    if not rated:
        return {"best": None, "models": {}}
    best = rated[0]["model"]
    df = (document.get("interval") or {}).get("degrees_of_freedom")
    against: dict[str, dict[str, Any]] = {}
    for pair in document.get("pairwise", []):
        if best not in (pair["model_a"], pair["model_b"]):
            continue
        flip = pair["model_a"] == best
        other = pair["model_b"] if flip else pair["model_a"]
        probability, low, high = pair["win_probability"], pair["ci_low"], pair["ci_high"]
        if flip:
            probability, low, high = 1 - probability, 1 - high, 1 - low
        against[other] = {
            "rating_difference": -pair["rating_difference"] if flip else pair["rating_difference"],
            "se": pair.get("se"),
            "win_probability": probability,
            "ci_low": low,
            "ci_high": high,
            "votes": pair["votes"],
        }
    tested = [m["model"] for m in rated[1:] if m["model"] in against]
    results = noninferiority_test(
        np.array([against[name]["rating_difference"] for name in tested]),
        np.array([against[name]["se"] or 0.0 for name in tested]),
        margin,
        df=df,
        alpha=alpha,
    )
    models: dict[str, dict[str, Any]] = {
        best: {
            "rating_difference": 0.0,
            "se": 0.0,
            "win_probability": 0.5,
            "ci_low": 0.5,
            "ci_high": 0.5,
            "votes": rated[0].get("votes"),
            "statistic": None,
            "p_value": None,
            "p_value_holm": None,
            "non_inferior": True,
        }
    }
    for name, result in zip(tested, results, strict=True):
        models[name] = {**against[name], **result}
    for entry in rated[1:]:
        if entry["model"] not in models:
            models[entry["model"]] = {
                "non_inferior": False,
                "message": "never compared with the best, even through other models",
            }
    return {"best": best, "margin": margin, "degrees_of_freedom": df, "models": models}
