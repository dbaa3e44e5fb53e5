"""Strength of preference: an ordinal (cumulative-logit) Bradley-Terry model and the ordinal
Krippendorff alpha of the five-point answers.

A vote "A much better / A slightly better / tie / B slightly better / B much better" is one of
five ordered levels y = 0..4 (0: b much better, 2: tie, 4: a much better). The model is the
proportional-odds (cumulative logit) extension of Bradley-Terry (Agresti 1992, "Analysis of
ordinal paired comparison data", JRSS C 41: 287-297):

    P(y <= k) = expit(c_k - (s_a - s_b)),   k = 0..K-2,   c_0 < c_1 < ... < c_{K-2}

with one strength s per model (centred) and cut-points c shared by all pairs. With two levels it
is Bradley-Terry itself; with the three levels b / tie / a it is the Rao-Kupper-like
ordinal-tie model. Levels nobody used are merged with their neighbours (their cut-points have
no estimate). The fit is maximum likelihood, the same model as statsmodels' OrderedModel with
the design x = e_a - e_b (tests/analysis/test_ordinal.py checks strengths, cut-points and
standard errors against it); when the likelihood has no maximum (a model that never loses or
never wins) a N(0, (400 Elo)^2) prior on each strength makes it a MAP fit, as elsewhere.
Intervals are Fisher (inverse observed information): they treat votes as independent.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from .agreement import krippendorff_alpha
from .bradley_terry import DEGENERATE_PRIOR_PRECISION, ELO_SCALE
from .distributions import norm_ppf
from .votes import A_WINS, B_WINS, BOTH_BAD, TIE, VoteArrays

LEVEL_NAMES = ("b much better", "b slightly better", "tie", "a slightly better", "a much better")
# |s_a - s_b| beyond this (natural-log odds, about 2,600 Elo) means the maximum is at infinity.
SEPARATED = 15.0


def ordinal_levels(outcome: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Five-point levels 0..4 from outcome and strength; -1 for a decisive vote without strength
    and for both-bad (the caller decides what both-bad means)."""
    level = np.full(len(outcome), -1, dtype=np.int64)
    level[outcome == TIE] = 2
    decisive = strength > 0
    level[(outcome == A_WINS) & decisive] = 2 + strength[(outcome == A_WINS) & decisive]
    level[(outcome == B_WINS) & decisive] = 2 - strength[(outcome == B_WINS) & decisive]
    return level


def _negloglik(
    theta: np.ndarray, a: np.ndarray, b: np.ndarray, y: np.ndarray, m: int, k: int, prior: float
) -> tuple[float, np.ndarray]:
    s = np.r_[0.0, theta[: m - 1]]
    cuts = theta[m - 1 :]
    eta = s[a] - s[b]
    upper = np.r_[cuts, np.inf][y] - eta
    lower = np.r_[-np.inf, cuts][y] - eta
    f_up, f_lo = expit(upper), expit(lower)
    p = np.maximum(f_up - f_lo, 1e-300)
    d_up, d_lo = f_up * (1 - f_up), f_lo * (1 - f_lo)
    # d log p / d eta, and / d c_j for the cut-points bounding each vote's level.
    g_eta = -(d_up - d_lo) / p
    g_s = np.bincount(a, g_eta, minlength=m) - np.bincount(b, g_eta, minlength=m)
    g_c = np.zeros(k - 1)
    has_up, has_lo = y < k - 1, y > 0
    np.add.at(g_c, y[has_up], d_up[has_up] / p[has_up])
    np.add.at(g_c, y[has_lo] - 1, -d_lo[has_lo] / p[has_lo])
    value = -np.log(p).sum() + 0.5 * prior * (s**2).sum()
    grad = -np.r_[g_s[1:], g_c] + np.r_[prior * s[1:], np.zeros(k - 1)]
    return float(value), grad


def _hessian(theta: np.ndarray, *args: Any) -> np.ndarray:
    """Central differences of the analytic gradient (exact enough for standard errors)."""
    n = len(theta)
    hess = np.empty((n, n))
    for j in range(n):
        step = 1e-5 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        hess[:, j] = (_negloglik(up, *args)[1] - _negloglik(down, *args)[1]) / (2 * step)
    return (hess + hess.T) / 2


def fit_ordinal_bradley_terry(
    model_a: np.ndarray, model_b: np.ndarray, level: np.ndarray, n_models: int
) -> dict[str, Any]:
    """Cumulative-logit Bradley-Terry on levels (any ordered integers; unused ones merged).

    Returns strengths `s` (natural-log scale, centred), their covariance `cov` (centred),
    cut-points `cuts` with standard errors, the levels kept, `method` ("maximum likelihood" or
    "MAP") and `loglik`. Raises ValueError when fewer than two levels or one model are present.
    """
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    used, y = np.unique(np.asarray(level), return_inverse=True)
    k, m = len(used), n_models
    if k < 2 or m < 2:
        raise ValueError("needs two or more models and two or more answer levels")
    # Start the cut-points at the logits of the cumulative shares (no model effects).
    shares = np.cumsum(np.bincount(y, minlength=k))[:-1] / len(y)
    start = np.r_[np.zeros(m - 1), np.log(shares / (1 - shares))]
    method = "maximum likelihood"
    prior = 0.0
    for attempt in range(2):
        args = (a, b, y, m, k, prior)
        result = minimize(
            _negloglik, start, args=args, jac=True, method="BFGS", options={"gtol": 1e-8}
        )
        theta = result.x
        s = np.r_[0.0, theta[: m - 1]]
        cuts = theta[m - 1 :]
        ordered = bool(np.all(np.diff(cuts) > 0))
        # BFGS often stops on "precision loss" at the optimum: judge by the gradient instead.
        converged = result.success or float(np.abs(result.jac).max()) < 1e-4
        if attempt == 0 and (np.ptp(s) > SEPARATED or not ordered or not converged):
            method, prior = "MAP", DEGENERATE_PRIOR_PRECISION
            continue
        break
    hess = _hessian(theta, *args)
    cov_full = np.linalg.pinv(hess)
    # Strengths relative to model 0 -> centred: s_c = P s with s_0 = 0.
    embed = np.zeros((m, m - 1))
    embed[1:, :] = np.eye(m - 1)
    centre = np.eye(m) - 1.0 / m
    transform = centre @ embed
    cov = transform @ cov_full[: m - 1, : m - 1] @ transform.T
    return {
        "s": s - s.mean(),
        "cov": cov,
        "s_reference": s,
        "cov_reference": cov_full[: m - 1, : m - 1],
        "cuts": cuts,
        "cuts_se": np.sqrt(np.maximum(np.diag(cov_full)[m - 1 :], 0)),
        "levels": used.tolist(),
        "method": method,
        "loglik": -_negloglik(theta, a, b, y, m, k, 0.0)[0],
    }


def ordinal_alpha(votes: VoteArrays, level: np.ndarray) -> float | None:
    """Krippendorff's alpha, ordinal metric, of the five-point answers: units are (item,
    unordered model pair) with two or more answers, each answer oriented to the model first by
    name (so a unit's answers are comparable whichever model was output_a)."""
    if votes.item is None or votes.rater is None:
        return None
    keep = level >= 0
    a, b, lv = votes.model_a[keep], votes.model_b[keep], level[keep]
    m = len(votes.models)
    name_rank = np.argsort(np.argsort(np.asarray(votes.models, dtype=object)))
    lv = np.where(name_rank[a] > name_rank[b], 4 - lv, lv)
    unit = (votes.item[keep].astype(np.int64) * m + np.minimum(a, b)) * m + np.maximum(a, b)
    if len(unit) == 0:
        return None
    # One answer per (unit, rater), the first.
    n_raters = max(len(votes.raters), 1)
    _, first = np.unique(unit * n_raters + votes.rater[keep], return_index=True)
    units, inverse = np.unique(unit[first], return_inverse=True)
    counts = np.zeros((len(units), 5))
    np.add.at(counts, (inverse, lv[first]), 1)
    return krippendorff_alpha(counts, "ordinal")


def ordinal_block(votes: VoteArrays, *, both_bad: str) -> dict[str, Any]:
    """The document's `ordinal` entry: the cumulative-logit ranking and the ordinal alpha."""
    if votes.strength is None or not (votes.strength > 0).any():
        return {"message": "the votes carry no strength (slightly / much better)"}
    level = ordinal_levels(votes.outcome, votes.strength)
    if both_bad == "tie":
        level[votes.outcome == BOTH_BAD] = 2
    without = int(((votes.outcome == A_WINS) | (votes.outcome == B_WINS)).sum())
    without -= int((votes.strength > 0).sum())
    keep = level >= 0
    out: dict[str, Any] = {
        "levels": list(LEVEL_NAMES),
        "votes": int(keep.sum()),
        "votes_without_strength": without,
        "level_counts": np.bincount(level[keep], minlength=5).tolist(),
        "krippendorff_alpha_ordinal": ordinal_alpha(votes, level),
        "model": "cumulative logit (proportional odds) Bradley-Terry: "
        "P(answer <= k) = expit(c_k - (s_a - s_b)); Fisher intervals, votes independent",
    }
    present = np.unique(np.r_[votes.model_a[keep], votes.model_b[keep]])
    if len(present) < 2:
        out["message"] = "fewer than two models have answers with a strength"
        return out
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = len(votes.models)
    edges = (votes.model_a[keep], votes.model_b[keep])
    _, part = connected_components(coo_matrix((np.ones(int(keep.sum())), edges), (m, m)))
    if len({part[i] for i in present}) > 1:
        out["message"] = "the comparisons fall into disconnected groups: not fitted"
        return out
    index = {int(code): k for k, code in enumerate(present)}
    a = np.array([index[int(c)] for c in votes.model_a[keep]])
    b = np.array([index[int(c)] for c in votes.model_b[keep]])
    try:
        fit = fit_ordinal_bradley_terry(a, b, level[keep], len(present))
    except (ValueError, np.linalg.LinAlgError) as error:
        out["message"] = f"not fitted: {error}"
        return out
    z = float(norm_ppf(0.975))
    se = np.sqrt(np.maximum(np.diag(fit["cov"]), 0))
    rating = 1000 + ELO_SCALE * fit["s"]
    rows = [
        {
            "model": votes.models[int(code)],
            "rating": float(rating[k]),
            "se": float(ELO_SCALE * se[k]),
            "ci_low": float(rating[k] - z * ELO_SCALE * se[k]),
            "ci_high": float(rating[k] + z * ELO_SCALE * se[k]),
        }
        for k, code in enumerate(present)
    ]
    rows.sort(key=lambda row: -row["rating"])
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    out.update(
        method=fit["method"],
        models=rows,
        cut_points=[
            {
                "between": f"{LEVEL_NAMES[lo]} | {LEVEL_NAMES[hi]}",
                "value": float(c),
                "se": float(e),
            }
            for lo, hi, c, e in zip(
                fit["levels"][:-1], fit["levels"][1:], fit["cuts"], fit["cuts_se"], strict=True
            )
        ],
        scale="Elo-like: 1000 + 400 log10(e^s); a difference d gives odds 10^(d/400) of the "
        "answer leaning to the better model at every cut, not the binary win odds",
    )
    if fit["method"] == "MAP":
        out["warning"] = (
            "a model never loses or never wins at some level: MAP fit with a N(0, 400 Elo) prior"
        )
    if not math.isfinite(out["models"][0]["rating"]):
        out["message"] = "the fit did not converge"
    return out
