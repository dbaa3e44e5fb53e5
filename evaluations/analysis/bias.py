"""Position and length bias: raw rates with tests, and Bradley-Terry fits with a covariate."""

from __future__ import annotations

from typing import Any

import numpy as np

from .bradley_terry import DEGENERATE_PRIOR_PRECISION, ELO_SCALE, comparison_structure
from .bradley_terry_covariates import BTCovariateFit, fit_bradley_terry_covariates
from .distributions import norm_ppf
from .votes import A_WINS, B_WINS, TIE

Z95 = float(norm_ppf(0.975))
LENGTH_BINS = np.array([-1.0, -0.5, -0.25, -0.1, 0.1, 0.25, 0.5, 1.0])
# Beyond this many logits (about 2,600 Elo) a "maximum-likelihood" parameter is Newton walking
# off to infinity on separated data, not an estimate.
_SEPARATED_LOGIT = 15.0
ML_ESTIMATE = "maximum likelihood, sandwich intervals"
MAP_ESTIMATE = (
    "no maximum-likelihood estimate (the votes are separated or the comparisons disconnected): "
    "MAP with a N(0, 400 Elo) prior on each parameter, posterior (Laplace) intervals"
)


def _covariate_fit(
    a: np.ndarray, b: np.ndarray, y: np.ndarray, w: np.ndarray, z: np.ndarray, m: int
) -> tuple[BTCovariateFit | None, np.ndarray | None, str]:
    """Fit with covariates, by ML when the MLE exists, else MAP with the degenerate prior.

    Returns the fit, its covariance (sandwich for ML, posterior for MAP) and how it was
    estimated; (None, None, reason) when even the MAP fit fails.
    """
    structure = comparison_structure(a, b, y, w, m)
    separated = structure.n_components != 1 or not all(structure.strongly_connected)
    if not separated:
        try:
            fit = fit_bradley_terry_covariates(a, b, y, w, z, m)
        except np.linalg.LinAlgError:
            fit = None
        params = None if fit is None else np.r_[fit.theta, fit.beta]
        if (
            fit is not None
            and fit.converged
            and np.isfinite(fit.cov).all()
            and np.abs(params).max() < _SEPARATED_LOGIT
        ):
            return fit, fit.cov, ML_ESTIMATE
    try:
        fit = fit_bradley_terry_covariates(
            a, b, y, w, z, m, prior_precision=DEGENERATE_PRIOR_PRECISION
        )
    except np.linalg.LinAlgError:
        return None, None, "could not be estimated (the fit's information matrix is singular)"
    if not (np.isfinite(fit.fisher_cov).all() and np.isfinite(fit.theta).all()):
        return None, None, "could not be estimated (the fit did not give finite numbers)"
    return fit, fit.fisher_cov, MAP_ESTIMATE


def _score(outcome: np.ndarray) -> np.ndarray:
    """Score of model_a: 1 win, 0 loss, 1/2 tie or both bad."""
    return np.where(outcome == A_WINS, 1.0, np.where(outcome == B_WINS, 0.0, 0.5))


def _aggregate(
    a: np.ndarray,
    b: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collapse identical (a, b, score, covariate) rows into weighted cells."""
    rows = np.column_stack([a, b, y, z])
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    return (
        unique[:, 0].astype(np.int64),
        unique[:, 1].astype(np.int64),
        unique[:, 2],
        counts.astype(np.float64),
        unique[:, 3],
    )


def position_bias(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    left_is_a: np.ndarray,
    models: list[str],
) -> dict[str, Any]:
    """Share of decisive votes won by the left side (exact binomial test against 1/2), and the
    left-side advantage in Elo points from Bradley-Terry with a side covariate (z = +1 when
    model_a is on the left, -1 otherwise; Agresti's home-advantage model), sandwich interval."""
    known = left_is_a >= 0
    a, b, out, left = model_a[known], model_b[known], outcome[known], left_is_a[known]
    decisive = out != TIE
    decisive &= out <= B_WINS
    left_won = ((out == A_WINS) & (left == 1)) | ((out == B_WINS) & (left == 0))
    n = int(decisive.sum())
    k = int((left_won & decisive).sum())
    result: dict[str, Any] = {
        "votes_with_side": int(known.sum()),
        "decisive_votes": n,
        "left_wins": k,
    }
    if n == 0:
        result["message"] = "no decisive vote with a known side"
        return result
    from scipy.stats import binomtest  # only here: scipy.stats is slow to import

    test = binomtest(k, n, 0.5)
    ci = test.proportion_ci(0.95)
    result.update(
        {"left_win_share": k / n, "ci_low": ci.low, "ci_high": ci.high, "p_value": test.pvalue}
    )
    if len(np.unique(np.r_[a, b])) >= 2:
        z = np.where(left == 1, 1.0, -1.0)
        present = np.unique(np.r_[a, b])
        ca, cb, cy, cw, cz = _aggregate(
            np.searchsorted(present, a), np.searchsorted(present, b), _score(out), z
        )
        if not _side_identifiable(ca, cb, cz, len(present)):
            result["message"] = (
                "the left side's advantage cannot be told apart from the models' strengths: "
                "too few votes shown each way round"
            )
            return result
        fit, cov, how = _covariate_fit(ca, cb, cy, cw, cz, len(present))
        if fit is None:
            result["left_advantage_elo"] = {"message": f"left advantage {how}"}
            return result
        se = float(np.sqrt(max(cov[-1, -1], 0.0)))
        result["left_advantage_elo"] = {
            "estimate": float(fit.beta[0] * ELO_SCALE),
            "ci_low": float((fit.beta[0] - Z95 * se) * ELO_SCALE),
            "ci_high": float((fit.beta[0] + Z95 * se) * ELO_SCALE),
            "method": how,
        }
    return result


def _side_identifiable(a: np.ndarray, b: np.ndarray, z: np.ndarray, n_models: int) -> bool:
    """Whether the design (model differences, side) has full rank: with fewer votes, e.g. one
    pair always shown the same way round, the side's effect is confounded and the fit singular."""
    rows = np.arange(len(a))
    design = np.zeros((len(a), n_models + 1))
    np.add.at(design, (rows, a), 1.0)
    np.add.at(design, (rows, b), -1.0)
    design[:, -1] = np.asarray(z, dtype=np.float64).reshape(len(a))
    return int(np.linalg.matrix_rank(design)) >= n_models


def length_bias(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    length_a: np.ndarray,
    length_b: np.ndarray,
    models: list[str],
    ratings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Length bias: win rate of the longer answer, model_a's score by bins of its relative length
    (len_a - len_b) / (len_a + len_b), and a length-controlled Bradley-Terry: the relative length
    difference, standardised to unit variance, as a covariate (Chatbot Arena's style control),
    ratings centred to 1000 with sandwich intervals, reported beside the plain ones."""
    known = np.isfinite(length_a) & np.isfinite(length_b)
    a, b, out = model_a[known], model_b[known], outcome[known]
    la, lb = length_a[known], length_b[known]
    total = la + lb
    rel = np.divide(la - lb, total, out=np.zeros_like(total), where=total > 0)
    result: dict[str, Any] = {"votes_with_lengths": int(known.sum())}
    decisive = (out <= B_WINS) & (rel != 0)
    longer_won = ((out == A_WINS) & (rel > 0)) | ((out == B_WINS) & (rel < 0))
    n, k = int(decisive.sum()), int((longer_won & decisive).sum())
    if n:
        from scipy.stats import binomtest  # only here: scipy.stats is slow to import

        test = binomtest(k, n, 0.5)
        result.update(
            {
                "decisive_votes_with_different_lengths": n,
                "longer_win_share": k / n,
                "p_value": test.pvalue,
            }
        )
    score = _score(out)
    bins = np.clip(np.searchsorted(LENGTH_BINS, rel, side="right") - 1, 0, len(LENGTH_BINS) - 2)
    votes_per_bin = np.bincount(bins, minlength=len(LENGTH_BINS) - 1)
    score_per_bin = np.bincount(bins, score, minlength=len(LENGTH_BINS) - 1)
    result["win_rate_by_relative_length"] = [
        {
            "from": float(LENGTH_BINS[i]),
            "to": float(LENGTH_BINS[i + 1]),
            "votes": int(votes_per_bin[i]),
            "win_rate_a": float(score_per_bin[i] / votes_per_bin[i]) if votes_per_bin[i] else None,
        }
        for i in range(len(LENGTH_BINS) - 1)
    ]
    spread = float(rel.std())
    if len(np.unique(np.r_[a, b])) < 2 or spread == 0:
        result["length_controlled"] = {"message": "needs two models and varying lengths"}
        return result
    z = (rel - rel.mean()) / spread
    present = np.unique(np.r_[a, b])
    ca, cb, cy, cw, cz = _aggregate(
        np.searchsorted(present, a), np.searchsorted(present, b), score, z
    )
    fit, cov, how = _covariate_fit(ca, cb, cy, cw, cz, len(present))
    if fit is None:
        result["length_controlled"] = {"message": f"length-controlled ranking {how}"}
        return result
    se_beta = float(np.sqrt(max(cov[-1, -1], 0.0)))
    se = np.sqrt(np.clip(np.diag(cov)[: len(present)], 0, None))
    rows = []
    for local in np.argsort(-fit.theta):
        name = models[present[local]]
        row = {
            "model": name,
            "rating": float(fit.ratings[local]),
            "ci_low": float(fit.ratings[local] - Z95 * se[local] * ELO_SCALE),
            "ci_high": float(fit.ratings[local] + Z95 * se[local] * ELO_SCALE),
        }
        if ratings is not None and name in ratings:
            row["plain_rating"] = ratings[name]
        rows.append(row)
    result["length_controlled"] = {
        "covariate": "(len_a - len_b) / (len_a + len_b), standardised",
        "coefficient_elo_per_sd": float(fit.beta[0] * ELO_SCALE),
        "ci_low": float((fit.beta[0] - Z95 * se_beta) * ELO_SCALE),
        "ci_high": float((fit.beta[0] + Z95 * se_beta) * ELO_SCALE),
        "method": how,
        "models": rows,
    }
    return result
