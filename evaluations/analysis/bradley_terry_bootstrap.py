"""Bradley-Terry bootstrap: batched, warm-started refits of multinomial resamples of the cells.

The model, its normalisation and the single fit are in bradley_terry.py; this module refits
many resamples at once (stacked Newton steps) and falls back to one fit per resample where a
batch fails.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import expit

from .bradley_terry import (
    _MAX_NEWTON,
    _TOL,
    DEGENERATE_PRIOR_PRECISION,
    BTFit,
    _Pairs,
    _pairs_from_cells,
    comparison_structure,
    fit_bradley_terry,
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
