"""Bradley-Terry maximum likelihood on aggregated counts, sandwich intervals, batched bootstrap.

Model: P(i beats j) = exp(theta_i) / (exp(theta_i) + exp(theta_j)), theta the natural
log-strength. A vote contributes its score y in {1, 1/2, 0} for the first model (ties as half a
win each way, the Chatbot Arena convention), so the log-likelihood is
sum_pairs s_ij log p_ij + (n_ij - s_ij) log(1 - p_ij) with s_ij the score and n_ij the votes.

Normalisation: theta has mean zero over the fitted models (choix's convention for ML); the Elo
scale is rating = 1000 + 400 log10(strength) = 1000 + ELO_SCALE * theta, so ratings average
1000. Reproduces Agresti (2002) Table 10.11 / Stigler (1994) citations and choix's ML fixtures
(see tests/analysis/test_bradley_terry.py).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
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


def _incidence(lo: np.ndarray, hi: np.ndarray, n_models: int) -> sparse.csr_matrix:
    """(pairs x models) matrix with +1 at lo and -1 at hi."""
    k = len(lo)
    rows = np.r_[np.arange(k), np.arange(k)]
    return sparse.csr_matrix(
        (np.r_[np.ones(k), -np.ones(k)], (rows, np.r_[lo, hi])), shape=(k, n_models)
    )


def _batched_newton(
    theta: np.ndarray,
    score: np.ndarray,
    total: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    incidence_t: sparse.csr_matrix,
    tau: np.ndarray,
    n_models: int,
) -> np.ndarray:
    """Full Newton for a batch of rounds (stacked Hessians), with a step cap for safety."""
    m = n_models
    diag = np.arange(m)
    for _ in range(_MAX_NEWTON):
        p = expit(theta[:, lo] - theta[:, hi])
        grad = np.asarray(incidence_t @ (score - total * p).T).T - tau[:, None] * theta
        w = total * p * (1 - p)
        hess = np.zeros((len(theta), m, m))
        hess[:, lo, hi] = -w
        hess[:, hi, lo] = -w
        hess[:, diag, diag] = np.asarray(abs(incidence_t) @ w.T).T + tau[:, None]
        hess += np.where(tau == 0, 1.0 / m, 0.0)[:, None, None]
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        biggest = np.abs(step).max(axis=1, keepdims=True)
        step *= np.minimum(1.0, 2.0 / np.maximum(biggest, 1e-300))
        theta = theta + step
        if biggest.max() < _TOL:
            break
    return theta


def _bootstrap_block(
    seed: np.random.SeedSequence, rounds: int, pvals: np.ndarray, n_votes: int, *refit_args: object
) -> tuple[np.ndarray, int, int]:
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n_votes, pvals, size=rounds)
    return _refit_block(draws, *refit_args)  # type: ignore[arg-type]


def _refit_block(
    draws: np.ndarray,
    cell_to_score: sparse.csr_matrix,
    cell_to_total: sparse.csr_matrix,
    lo: np.ndarray,
    hi: np.ndarray,
    incidence_t: sparse.csr_matrix,
    theta0: np.ndarray,
    hess_inv: np.ndarray,
    prior_precision: float,
    n_models: int,
) -> tuple[np.ndarray, int, int]:
    """Refitted centred theta per round (NaN for a round that could not be fitted at all), the
    number of rounds fitted with the prior, and the number that could not be fitted."""
    rounds = len(draws)
    draws = np.asarray(draws, dtype=np.float64)
    score = np.asarray(cell_to_score.T @ draws.T).T
    total = np.asarray(cell_to_total.T @ draws.T).T
    # Rounds where a model's resample has no win or no loss have no MLE: fit them with the prior.
    lo_t, hi_t = _pos(incidence_t), _neg(incidence_t)
    won = np.asarray(lo_t @ score.T).T + np.asarray(hi_t @ (total - score).T).T
    played = np.asarray(lo_t @ total.T).T + np.asarray(hi_t @ total.T).T
    degenerate = ((won <= 0) | (won >= played)) & (played > 0)
    degenerate = degenerate.any(axis=1) | (played == 0).any(axis=1)
    # Every model winning and losing something is not enough for the MLE: a resample that drops
    # a pair can leave the graph disconnected or not strongly connected. Check those rounds.
    for r in np.flatnonzero(~degenerate & (total == 0).any(axis=1)):
        degenerate[r] = not _strongly_connected(lo, hi, score[r], total[r], n_models)
    tau = np.where(
        degenerate | (prior_precision > 0),
        DEGENERATE_PRIOR_PRECISION if prior_precision == 0 else prior_precision,
        0.0,
    )
    theta = np.repeat(theta0[None, :], rounds, axis=0)
    # Chord iterations: the Hessian at the point estimate, inverted once, serves every round
    # (resamples differ by O(1/sqrt(n)), so this converges in a few steps).
    active = ~degenerate if prior_precision == 0 else np.ones(rounds, dtype=bool)
    todo = np.flatnonzero(active)
    for _ in range(30):
        if len(todo) == 0:
            break
        t = theta[todo]
        p = expit(t[:, lo] - t[:, hi])
        grad = np.asarray(incidence_t @ (score[todo] - total[todo] * p).T).T - tau[todo, None] * t
        step = grad @ hess_inv
        theta[todo] = t + step
        todo = todo[np.abs(step).max(axis=1) >= _TOL]
    rest = np.union1d(todo, np.flatnonzero(~active))
    failed = np.zeros(rounds, dtype=bool)
    if len(rest):
        try:
            theta[rest] = _batched_newton(
                theta[rest], score[rest], total[rest], lo, hi, incidence_t, tau[rest], n_models
            )
        except np.linalg.LinAlgError:
            for r in rest:
                theta[r], failed[r] = _refit_one(score[r], total[r], lo, hi, tau[r], n_models)
    failed |= ~np.isfinite(theta).all(axis=1)
    theta -= theta.mean(axis=1, keepdims=True)
    theta[failed] = np.nan
    return theta, int(degenerate[~failed].sum()), int(failed.sum())


def _strongly_connected(
    lo: np.ndarray, hi: np.ndarray, score: np.ndarray, total: np.ndarray, n_models: int
) -> bool:
    played = total > 0
    y = np.divide(score, total, out=np.zeros_like(score), where=played)
    structure = comparison_structure(lo[played], hi[played], y[played], total[played], n_models)
    return (
        structure.n_components == 1
        and structure.strongly_connected[0]
        and bool((structure.component >= 0).all())
    )


def _refit_one(
    score: np.ndarray,
    total: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    tau: float,
    n_models: int,
) -> tuple[np.ndarray, bool]:
    """One resample on its own (after a batch failed): ML if it exists, else the prior's MAP."""
    played = total > 0
    y = np.divide(score, total, out=np.zeros_like(score), where=played)
    if tau == 0 and not _strongly_connected(lo, hi, score, total, n_models):
        tau = DEGENERATE_PRIOR_PRECISION
    try:
        fit = fit_bradley_terry(
            lo[played], hi[played], y[played], total[played], n_models, prior_precision=tau
        )
    except np.linalg.LinAlgError:
        return np.full(n_models, np.nan), True
    return fit.theta, not np.isfinite(fit.theta).all()


def refit_bradley_terry(
    model_a: np.ndarray,
    model_b: np.ndarray,
    score_a: np.ndarray,
    counts: np.ndarray,
    n_models: int,
    fit: BTFit,
) -> np.ndarray:
    """Refit BT for each row of `counts` (rounds x cells, same cells as `fit`) in one batch,
    warm-started from `fit`; returns centred theta per round (NaN where a round cannot be
    fitted). This is the bootstrap's solver,
    exposed so resamples drawn elsewhere can be refitted."""
    counts = np.asarray(counts, dtype=np.float64)
    pairs = _pairs_from_cells(model_a, model_b, score_a, counts.sum(axis=0) + 1, n_models)
    args = _refit_args(pairs, n_models, fit)
    return _refit_block(counts, *args)[0]


def _refit_args(pairs: _Pairs, m: int, fit: BTFit) -> tuple[object, ...]:
    n_cells = len(pairs.cell_pair)
    cell_to_total = sparse.csr_matrix(
        (np.ones(n_cells), (np.arange(n_cells), pairs.cell_pair)), shape=(n_cells, len(pairs.lo))
    )
    cell_to_score = sparse.csr_matrix(
        (pairs.cell_y, (np.arange(n_cells), pairs.cell_pair)), shape=(n_cells, len(pairs.lo))
    )
    incidence_t = _incidence(pairs.lo, pairs.hi, m).T.tocsr()
    centring = np.full((m, m), 1.0 / m) if fit.prior_precision == 0 else 0.0
    hess_inv = np.linalg.inv(fit.hessian + centring)
    return (
        cell_to_score,
        cell_to_total,
        pairs.lo,
        pairs.hi,
        incidence_t,
        fit.theta,
        hess_inv,
        fit.prior_precision,
        m,
    )


def _pos(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    return matrix.multiply(matrix > 0).tocsr()


def _neg(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    return (-matrix).multiply(matrix < 0).tocsr()


@dataclass(frozen=True)
class BootstrapResult:
    theta: np.ndarray  # (fitted rounds, models), each round centred to mean zero
    degenerate_rounds: int  # fitted with the prior (no MLE in the resample)
    failed_rounds: int = 0  # could not be fitted at all: left out of `theta`


def bootstrap_bradley_terry(
    model_a: np.ndarray,
    model_b: np.ndarray,
    score_a: np.ndarray,
    count: np.ndarray,
    n_models: int,
    rounds: int,
    *,
    seed: int | np.random.SeedSequence | None = None,
    fit: BTFit | None = None,
    block: int = 100,
    workers: int | None = None,
) -> BootstrapResult:
    """Bootstrap the BT fit by resampling the aggregated cells multinomially (n = total votes).

    Equivalent to resampling votes with replacement, but the cost does not grow with the number
    of votes. Rounds are drawn in fixed blocks of `block` rounds, each from its own child of
    SeedSequence(seed), so the result depends on the seed only, not on `workers`. Each block is
    refitted at once: chord-Newton iterations from the point estimate with the point Hessian,
    then full batched Newton for rounds that do not settle. Rounds in which some model has no
    win or no loss are fitted with the degenerate prior and counted in `degenerate_rounds`.
    """
    count = np.asarray(count, dtype=np.float64)
    if fit is None:
        fit = fit_bradley_terry(model_a, model_b, score_a, count, n_models)
    pairs = _pairs_from_cells(model_a, model_b, score_a, count, n_models)
    n_votes = int(round(count.sum()))
    m = n_models
    sizes = [block] * (rounds // block) + ([rounds % block] if rounds % block else [])
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    children = root.spawn(len(sizes))
    pvals = count / count.sum()
    args = (pvals, n_votes, *_refit_args(pairs, m, fit))
    workers = workers or min(len(sizes), os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = list(
                pool.map(
                    lambda job: _bootstrap_block(job[0], job[1], *args),
                    zip(children, sizes, strict=True),
                )
            )
    else:
        results = [
            _bootstrap_block(child, size, *args)
            for child, size in zip(children, sizes, strict=True)
        ]
    if not results:
        return BootstrapResult(theta=np.empty((0, m)), degenerate_rounds=0)
    return BootstrapResult(
        theta=np.vstack([r[0][np.isfinite(r[0]).all(axis=1)] for r in results]),
        degenerate_rounds=sum(r[1] for r in results),
        failed_rounds=sum(r[2] for r in results),
    )


@dataclass(frozen=True)
class BTCovariateFit:
    """Bradley-Terry with covariates: logit P(a beats b) = theta_a - theta_b + z . beta.

    `cov` is the sandwich covariance of (theta, beta) (theta block centred); `fisher_cov` H^-1.
    """

    theta: np.ndarray
    beta: np.ndarray
    cov: np.ndarray
    fisher_cov: np.ndarray
    loglik: float
    converged: bool

    @property
    def ratings(self) -> np.ndarray:
        return 1000.0 + ELO_SCALE * self.theta


def _xtvx(a: np.ndarray, b: np.ndarray, z: np.ndarray, v: np.ndarray, m: int) -> np.ndarray:
    """X^T diag(v) X for rows x = e_a - e_b (+) z, without forming X."""
    k = z.shape[1]
    pair = np.bincount(a * m + b, v, minlength=m * m).reshape(m, m)
    out = np.zeros((m + k, m + k))
    out[:m, :m] = np.diag(pair.sum(axis=1) + pair.sum(axis=0)) - pair - pair.T
    vz = v[:, None] * z
    cross = (
        np.stack(
            [
                np.bincount(a, vz[:, c], minlength=m) - np.bincount(b, vz[:, c], minlength=m)
                for c in range(k)
            ],
            axis=1,
        )
        if k
        else np.zeros((m, 0))
    )
    out[:m, m:] = cross
    out[m:, :m] = cross.T
    out[m:, m:] = z.T @ vz
    return out


def fit_bradley_terry_covariates(
    model_a: np.ndarray,
    model_b: np.ndarray,
    score_a: np.ndarray,
    weight: np.ndarray,
    covariates: np.ndarray,
    n_models: int,
    *,
    prior_precision: float = 0.0,
) -> BTCovariateFit:
    """Bradley-Terry ML with per-row covariates (logistic regression on e_a - e_b and z).

    Rows are votes or aggregated cells (weight = count), score_a in [0, 1] (ties 1/2). With
    z = +1 for the home (left) side this is Agresti's (2002, Sec. 10.6) home-advantage model;
    with z = normalised length difference it is Chatbot Arena's style control. Newton's method,
    theta centred to mean zero; sandwich covariance from the per-row score residuals. With
    `prior_precision` > 0 (for data without an MLE: separated, disconnected, or a covariate
    that explains the outcomes perfectly) it is the MAP estimate under independent
    N(0, 1/prior_precision) priors on every parameter, and `fisher_cov` is the posterior
    (Laplace) covariance, both with the theta block projected onto centred ratings.
    """
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    y = np.asarray(score_a, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    z = np.asarray(covariates, dtype=np.float64).reshape(len(a), -1)
    m, k = n_models, z.shape[1]
    centring = np.zeros((m + k, m + k))
    if prior_precision > 0:
        centring += prior_precision * np.eye(m + k)
    else:
        centring[:m, :m] = 1.0 / m
    params = np.zeros(m + k)

    def linear(par: np.ndarray) -> np.ndarray:
        return par[a] - par[b] + z @ par[m:]

    def loglik(par: np.ndarray) -> float:
        eta = linear(par)
        penalty = 0.5 * prior_precision * float(par @ par)
        return float(np.dot(w * y, log_expit(eta)) + np.dot(w * (1 - y), log_expit(-eta))) - penalty

    current = loglik(params)
    converged = False
    for _ in range(_MAX_NEWTON):
        eta = linear(params)
        p = expit(eta)
        r = w * (y - p)
        grad = np.r_[np.bincount(a, r, minlength=m) - np.bincount(b, r, minlength=m), z.T @ r]
        grad -= prior_precision * params
        hess = _xtvx(a, b, z, w * p * (1 - p), m)
        step = np.linalg.solve(hess + centring, grad)
        scale = 1.0
        while True:
            candidate = params + scale * step
            value = loglik(candidate)
            if value >= current - 1e-12 * abs(current) or scale < 1e-8:
                break
            scale *= 0.5
        params, current = candidate, value
        if np.max(np.abs(scale * step)) < _TOL:
            converged = True
            break
    p = expit(linear(params))
    inv = np.linalg.inv(_xtvx(a, b, z, w * p * (1 - p), m) + centring)
    meat = _xtvx(a, b, z, w * (y - p) ** 2, m)
    sandwich = inv @ meat @ inv
    if prior_precision > 0:
        projection = np.eye(m + k)
        projection[:m, :m] -= 1.0 / m
        sandwich = projection @ sandwich @ projection.T
        fisher = projection @ inv @ projection.T
    else:
        fisher = inv - centring
    return BTCovariateFit(
        theta=params[:m],
        beta=params[m:],
        cov=(sandwich + sandwich.T) / 2,
        fisher_cov=(fisher + fisher.T) / 2,
        loglik=current,
        converged=converged,
    )
