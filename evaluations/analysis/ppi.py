"""Prediction-powered Bradley-Terry ratings (PPI++): LLM judges' verdicts on every pair, human
votes on a subset, intervals valid whatever the judge's quality.

Contract. Rows are comparisons (model_a, model_b). `judge_score` (1, 1/2, 0 for model_a) is
known on every row; `human_score` on the labelled rows (NaN elsewhere). The labelled rows must
be a random subset of the rows (the judge's verdicts are the same function of the pair on both),
and are treated as independent. The estimate minimises (Angelopoulos, Duchi and Zrnic 2023)

    L(theta) = (1/n) sum_lab l(y_i) + lambda [ (1/N) sum_unlab l(f_j) - (1/n) sum_lab l(f_i) ]

with l the Bradley-Terry log-loss, so the judge's bias cancels in expectation: the judge only
reduces variance, by as much as its verdicts correlate with the humans' (for lambda = 0 it is
the human-only fit). lambda is the PPI++ power-tuning choice, clipped to [0, 1]. The covariance is
H^-1 (V_delta / n + lambda^2 V_f / N) H^-1, with V_delta the covariance of the labelled rows'
gradient differences l'(y) - lambda l'(f) and V_f that of the unlabelled rows' judge gradients.
`effective_human_votes` is n times the ratio of the human-only to the PPI variance (averaged
over the ratings): the number of human votes alone that would give the same precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from .bradley_terry import _MAX_NEWTON, _TOL, ELO_SCALE


@dataclass(frozen=True)
class PPIFit:
    theta: np.ndarray
    cov: np.ndarray  # of theta (centred), natural units
    human_only_theta: np.ndarray
    human_only_cov: np.ndarray
    tuning: float  # lambda
    human_votes: int
    judge_only_votes: int
    effective_human_votes: float

    @property
    def ratings(self) -> np.ndarray:
        return 1000.0 + ELO_SCALE * self.theta


def _gram(a: np.ndarray, b: np.ndarray, w: np.ndarray, m: int) -> np.ndarray:
    pair = np.bincount(a * m + b, w, minlength=m * m).reshape(m, m)
    return np.diag(pair.sum(axis=0) + pair.sum(axis=1)) - pair - pair.T


def _grad_rows(a: np.ndarray, b: np.ndarray, r: np.ndarray, m: int) -> np.ndarray:
    out = np.zeros((len(a), m))
    rows = np.arange(len(a))
    out[rows, a] = r
    out[rows, b] -= r
    return out


def _solve(
    a: np.ndarray,
    b: np.ndarray,
    target: np.ndarray,
    weight_y: np.ndarray,
    weight_p: np.ndarray,
    m: int,
) -> np.ndarray:
    """Newton for sum_i (weight_y_i target_i - weight_p_i p_i)(e_a - e_b) = 0, mean zero."""
    theta = np.zeros(m)
    centring = np.full((m, m), 1.0 / m)
    for _ in range(_MAX_NEWTON):
        p = expit(theta[a] - theta[b])
        r = weight_y * target - weight_p * p
        grad = np.bincount(a, r, minlength=m) - np.bincount(b, r, minlength=m)
        hess = _gram(a, b, weight_p * p * (1 - p), m)
        step = np.linalg.solve(hess + centring, grad)
        step *= min(1.0, 2.0 / max(np.abs(step).max(), 1e-300))
        theta += step
        if np.abs(step).max() < _TOL:
            break
    return theta - theta.mean()


def ppi_bradley_terry(
    model_a: np.ndarray,
    model_b: np.ndarray,
    judge_score: np.ndarray,
    human_score: np.ndarray,
    n_models: int,
    *,
    tuning: float | None = None,
) -> PPIFit:
    """PPI++ Bradley-Terry (see the module docstring); `tuning` fixes lambda instead of tuning."""
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    f = np.asarray(judge_score, dtype=np.float64)
    y = np.asarray(human_score, dtype=np.float64)
    lab = np.isfinite(y)
    n, big_n, m = int(lab.sum()), int((~lab).sum()), n_models
    if n < 2:
        raise ValueError("PPI needs at least two comparisons with a human vote")
    if big_n == 0:
        raise ValueError("PPI needs comparisons with a judge verdict and no human vote")
    al, bl, yl, fl = a[lab], b[lab], y[lab], f[lab]
    au, bu, fu = a[~lab], b[~lab], f[~lab]
    centring = np.full((m, m), 1.0 / m)

    def fit(lam: float) -> np.ndarray:
        # Labelled rows: human target minus lambda judge target; unlabelled: lambda judge.
        aa, bb = np.r_[al, au], np.r_[bl, bu]
        wy = np.r_[np.full(n, 1.0 / n), np.full(big_n, lam / big_n)]
        target = np.r_[(yl - lam * fl), fu]
        wp = np.r_[np.full(n, (1 - lam) / n), np.full(big_n, lam / big_n)]
        return _solve(aa, bb, target, wy, wp, m)

    def pieces(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        pl = expit(theta[al] - theta[bl])
        pu = expit(theta[au] - theta[bu])
        hess = (_gram(al, bl, pl * (1 - pl), m) + _gram(au, bu, pu * (1 - pu), m)) / (n + big_n)
        h_inv = np.linalg.inv(hess + centring) - centring
        return (
            h_inv,
            _grad_rows(al, bl, yl - pl, m),
            _grad_rows(al, bl, fl - pl, m),
            _grad_rows(au, bu, fu - pu, m),
        )

    human_theta = fit(0.0)
    h_inv, gy, gf, gu = pieces(human_theta)
    human_cov = h_inv @ np.cov(gy, rowvar=False) @ h_inv / n
    if tuning is None:
        var_f = np.cov(np.r_[gf, gu], rowvar=False)
        cross = (gy - gy.mean(0)).T @ (gf - gf.mean(0)) / (n - 1)
        numerator = np.trace(h_inv @ (cross + cross.T) @ h_inv)
        denominator = 2 * (1 + n / big_n) * np.trace(h_inv @ var_f @ h_inv)
        lam = float(np.clip(numerator / denominator, 0, 1)) if denominator > 0 else 0.0
    else:
        lam = float(tuning)
    theta = fit(lam)
    h_inv, gy, gf, gu = pieces(theta)
    v_delta = np.cov(gy - lam * gf, rowvar=False)
    v_f = np.cov(gu, rowvar=False) if big_n > 1 else np.zeros((m, m))
    cov = h_inv @ (v_delta / n + lam**2 * v_f / big_n) @ h_inv
    cov = (cov + cov.T) / 2
    ratio = np.trace(human_cov) / np.trace(cov) if np.trace(cov) > 0 else 1.0
    return PPIFit(
        theta=theta,
        cov=cov,
        human_only_theta=human_theta,
        human_only_cov=human_cov,
        tuning=lam,
        human_votes=n,
        judge_only_votes=big_n,
        effective_human_votes=float(n * ratio),
    )
