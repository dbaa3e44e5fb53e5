"""Bradley-Terry maximum likelihood on aggregated counts, sandwich intervals.

Model: P(i beats j) = exp(theta_i) / (exp(theta_i) + exp(theta_j)), theta the natural
log-strength. A vote contributes its score y in {1, 1/2, 0} for the first model (ties as half a
win each way, the Chatbot Arena convention), so the log-likelihood is
sum_pairs s_ij log p_ij + (n_ij - s_ij) log(1 - p_ij) with s_ij the score and n_ij the votes.

Normalisation: theta has mean zero over the fitted models (choix's convention for ML); the Elo
scale is rating = 1000 + 400 log10(strength) = 1000 + ELO_SCALE * theta, so ratings average
1000. Reproduces Agresti (2002) Table 10.11 / Stigler (1994) citations and choix's ML fixtures
(see tests/analysis/test_bradley_terry.py). The bootstrap is in bradley_terry_bootstrap.py, the
model with covariates in bradley_terry_covariates.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import expit, log_expit

ELO_SCALE = 400.0 / np.log(10.0)
# Weak Gaussian prior used only when the MLE does not exist (some model never wins or never
# loses inside its component): theta ~ N(0, ln(10)^2), i.e. a standard deviation of 400 Elo.
DEGENERATE_PRIOR_PRECISION = 1.0 / np.log(10.0) ** 2
_TOL = 1e-10
_MAX_NEWTON = 100


@dataclass(frozen=True)
class BTFit:
    """A fitted Bradley-Terry model over `n_models` (theta centred to mean zero).

    `cov` is the sandwich covariance H^-1 J H^-1 of theta (J from per-cell squared score
    residuals: the first-order equivalent of resampling votes); `fisher_cov` is H^-1.
    `hessian` is the observed information including the prior (without the centring term).
    """

    theta: np.ndarray
    cov: np.ndarray
    fisher_cov: np.ndarray
    hessian: np.ndarray
    loglik: float
    null_loglik: float
    prior_precision: float
    iterations: int
    converged: bool

    @property
    def ratings(self) -> np.ndarray:
        return 1000.0 + ELO_SCALE * self.theta


@dataclass(frozen=True)
class _Pairs:
    lo: np.ndarray
    hi: np.ndarray
    score: np.ndarray  # score of lo
    total: np.ndarray
    cell_pair: np.ndarray  # pair index of each cell
    cell_y: np.ndarray  # score of lo in each cell
    cell_count: np.ndarray


def _pairs_from_cells(
    a: np.ndarray, b: np.ndarray, y: np.ndarray, count: np.ndarray, n_models: int
) -> _Pairs:
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    y = np.asarray(y, dtype=np.float64)
    count = np.asarray(count, dtype=np.float64)
    swap = a > b
    lo = np.where(swap, b, a)
    hi = np.where(swap, a, b)
    y_lo = np.where(swap, 1.0 - y, y)
    keys, inverse = np.unique(lo * n_models + hi, return_inverse=True)
    npairs = len(keys)
    return _Pairs(
        lo=keys // n_models,
        hi=keys % n_models,
        score=np.bincount(inverse, count * y_lo, minlength=npairs),
        total=np.bincount(inverse, count, minlength=npairs),
        cell_pair=inverse,
        cell_y=y_lo,
        cell_count=count,
    )


def _laplacian(lo: np.ndarray, hi: np.ndarray, weight: np.ndarray, n_models: int) -> np.ndarray:
    """sum_pairs weight * (e_lo - e_hi)(e_lo - e_hi)^T, for unique pairs."""
    out = np.zeros((n_models, n_models))
    out[lo, hi] = -weight
    out[hi, lo] = -weight
    out[np.diag_indices(n_models)] = np.bincount(lo, weight, minlength=n_models) + np.bincount(
        hi, weight, minlength=n_models
    )
    return out


def _loglik(pairs: _Pairs, theta: np.ndarray) -> float:
    d = theta[pairs.lo] - theta[pairs.hi]
    return float(
        np.dot(pairs.score, log_expit(d)) + np.dot(pairs.total - pairs.score, log_expit(-d))
    )


def _gradient(pairs: _Pairs, theta: np.ndarray, n_models: int) -> np.ndarray:
    r = pairs.score - pairs.total * expit(theta[pairs.lo] - theta[pairs.hi])
    return np.bincount(pairs.lo, r, minlength=n_models) - np.bincount(
        pairs.hi, r, minlength=n_models
    )


def fit_bradley_terry(
    model_a: np.ndarray,
    model_b: np.ndarray,
    score_a: np.ndarray,
    count: np.ndarray,
    n_models: int,
    *,
    prior_precision: float = 0.0,
    theta0: np.ndarray | None = None,
) -> BTFit:
    """Bradley-Terry ML (or MAP with a N(0, 1/prior_precision) prior) on aggregated cells.

    Each cell is (model_a, model_b, score of model_a in {1, 0.5, 0}, number of votes); cells may
    repeat pairs and come in either orientation. Newton's method on the Laplacian information
    matrix; the mean-zero constraint enters as the rank-one term 11^T/M, which leaves the
    (sum-zero) steps unchanged and makes the system nonsingular. Every model must be in one
    connected comparison graph; without a prior, the MLE exists only when that graph is strongly
    connected (see `comparison_structure`).
    """
    pairs = _pairs_from_cells(model_a, model_b, score_a, count, n_models)
    m = n_models
    centring = np.full((m, m), 1.0 / m) if prior_precision == 0 else 0.0
    theta = np.zeros(m) if theta0 is None else np.asarray(theta0, dtype=np.float64).copy()
    if prior_precision == 0:
        theta -= theta.mean()

    def objective(t: np.ndarray) -> float:
        return _loglik(pairs, t) - 0.5 * prior_precision * float(t @ t)

    current = objective(theta)
    converged = False
    iterations = 0
    for iterations in range(1, _MAX_NEWTON + 1):  # noqa: B007 - reported below
        p = expit(theta[pairs.lo] - theta[pairs.hi])
        hess = _laplacian(pairs.lo, pairs.hi, pairs.total * p * (1 - p), m)
        hess[np.diag_indices(m)] += prior_precision
        grad = _gradient(pairs, theta, m) - prior_precision * theta
        step = np.linalg.solve(hess + centring, grad)
        # The log-likelihood is concave, so halving the step always finds an ascent.
        scale = 1.0
        while True:
            candidate = theta + scale * step
            value = objective(candidate)
            if value >= current - 1e-12 * abs(current) or scale < 1e-8:
                break
            scale *= 0.5
        theta, current = candidate, value
        if np.max(np.abs(scale * step)) < _TOL:
            converged = True
            break
    p = expit(theta[pairs.lo] - theta[pairs.hi])
    hess = _laplacian(pairs.lo, pairs.hi, pairs.total * p * (1 - p), m)
    hess[np.diag_indices(m)] += prior_precision
    inv = np.linalg.inv(hess + centring)
    residual = pairs.cell_y - p[pairs.cell_pair]
    per_pair = np.bincount(pairs.cell_pair, pairs.cell_count * residual**2, minlength=len(pairs.lo))
    # Votes on a pair that all have the same outcome show no variability to estimate (a single
    # tie has residual 0 and would give a zero-width interval): such a pair contributes the
    # Bernoulli variance n p (1 - p) of the model instead.
    uniform = _uniform_pairs(pairs)
    per_pair = np.where(uniform, pairs.total * p * (1 - p), per_pair)
    meat = _laplacian(pairs.lo, pairs.hi, per_pair, m)
    sandwich = inv @ meat @ inv
    fisher = inv - centring
    if prior_precision > 0:
        # The prior also pins the average rating, which the centring then discards: report the
        # covariance of the centred ratings, not of the absolute level (that would add the
        # prior's variance of the mean, 400^2/M Elo^2, to every model).
        projection = np.eye(m) - 1.0 / m
        sandwich = projection @ sandwich @ projection
        fisher = projection @ fisher @ projection
    null = float(np.dot(pairs.total, np.full(len(pairs.total), np.log(0.5))))
    return BTFit(
        theta=theta,
        cov=(sandwich + sandwich.T) / 2,
        fisher_cov=(fisher + fisher.T) / 2,
        hessian=hess,
        loglik=_loglik(pairs, theta),
        null_loglik=null,
        prior_precision=prior_precision,
        iterations=iterations,
        converged=converged,
    )


def _uniform_pairs(pairs: _Pairs) -> np.ndarray:
    """Whether every vote of each pair has the same score."""
    n = len(pairs.lo)
    has = pairs.cell_count > 0
    lowest = np.full(n, np.inf)
    highest = np.full(n, -np.inf)
    np.minimum.at(lowest, pairs.cell_pair[has], pairs.cell_y[has])
    np.maximum.at(highest, pairs.cell_pair[has], pairs.cell_y[has])
    return lowest >= highest


@dataclass(frozen=True)
class ComparisonStructure:
    """Connected pieces of the comparison graph and where the MLE fails to exist.

    `component[m]` labels the weakly connected piece of model m (models with no votes get -1).
    `never_wins` / `never_loses`: models whose score (ties count half) is zero / full.
    `strongly_connected[c]`: whether piece c is strongly connected (the MLE exists in it).
    """

    component: np.ndarray
    n_components: int
    strongly_connected: list[bool]
    never_wins: np.ndarray
    never_loses: np.ndarray


def comparison_structure(
    model_a: np.ndarray, model_b: np.ndarray, score_a: np.ndarray, count: np.ndarray, n_models: int
) -> ComparisonStructure:
    from scipy.sparse.csgraph import connected_components

    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    y = np.asarray(score_a, dtype=np.float64)
    c = np.asarray(count, dtype=np.float64)
    used = c > 0
    a, b, y, c = a[used], b[used], y[used], c[used]
    beats = sparse.coo_matrix(
        (np.ones(2 * len(a)), (np.r_[a, b], np.r_[b, a])), shape=(n_models, n_models)
    ).tocsr()
    n_weak, weak = connected_components(beats, directed=False)
    # Edge i -> j when i earned some score against j.
    win_from = np.r_[a[y > 0], b[y < 1]]
    win_to = np.r_[b[y > 0], a[y < 1]]
    directed = sparse.coo_matrix(
        (np.ones(len(win_from)), (win_from, win_to)), shape=(n_models, n_models)
    ).tocsr()
    _, strong = connected_components(directed, directed=True, connection="strong")
    score = np.bincount(a, c * y, minlength=n_models) + np.bincount(
        b, c * (1 - y), minlength=n_models
    )
    votes = np.bincount(a, c, minlength=n_models) + np.bincount(b, c, minlength=n_models)
    has_votes = votes > 0
    # Relabel pieces in order of first appearance, skipping models without votes.
    component = np.full(n_models, -1)
    labels: dict[int, int] = {}
    for m in np.flatnonzero(has_votes):
        component[m] = labels.setdefault(int(weak[m]), len(labels))
    strongly = []
    for piece in range(len(labels)):
        members = np.flatnonzero(component == piece)
        strongly.append(len(np.unique(strong[members])) == 1)
    return ComparisonStructure(
        component=component,
        n_components=len(labels),
        strongly_connected=strongly,
        never_wins=has_votes & (score == 0),
        never_loses=has_votes & (score == votes),
    )
