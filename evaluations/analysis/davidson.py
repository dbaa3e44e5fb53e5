"""Davidson (1970) Bradley-Terry model with ties.

P(i beats j) = pi_i / D, P(tie) = nu sqrt(pi_i pi_j) / D, D = pi_i + pi_j + nu sqrt(pi_i pi_j).
With theta = log pi and x = (theta_i - theta_j) / 2 this is P(i) = e^x / (2 cosh x + nu),
P(tie) = nu / (2 cosh x + nu). Normalisation: theta has mean zero (ratings average 1000 on the
Elo scale). Reproduces Davidson's Example 2 (chocolate pudding) as fitted by PlackettLuce:
worths, nu = 0.7468 and the standard errors of log worths and log nu.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bradley_terry import ELO_SCALE

_TOL = 1e-11


@dataclass(frozen=True)
class DavidsonFit:
    """theta (mean zero), log_nu, and the inverse Fisher information for (theta, log_nu)."""

    theta: np.ndarray
    log_nu: float
    cov: np.ndarray  # (M + 1) x (M + 1), last row/column is log_nu; theta block centred
    loglik: float
    iterations: int
    converged: bool

    @property
    def nu(self) -> float:
        return float(np.exp(self.log_nu))

    @property
    def nu_se(self) -> float:
        return float(self.nu * np.sqrt(self.cov[-1, -1]))

    @property
    def ratings(self) -> np.ndarray:
        return 1000.0 + ELO_SCALE * self.theta

    @property
    def theta_cov(self) -> np.ndarray:
        return self.cov[:-1, :-1]


def _parts(
    theta: np.ndarray,
    log_nu: float,
    lo: np.ndarray,
    hi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    x = (theta[lo] - theta[hi]) / 2
    nu = float(np.exp(log_nu))
    denom = 2 * np.cosh(x) + nu
    return x, denom, 2 * np.sinh(x), nu


def fit_davidson(
    first: np.ndarray,
    second: np.ndarray,
    wins_first: np.ndarray,
    wins_second: np.ndarray,
    ties: np.ndarray,
    n_models: int,
    *,
    prior_precision: float = 0.0,
) -> DavidsonFit:
    """Davidson ML by Newton's method on (theta, log nu), per unordered pair counts.

    Requires at least one tie (otherwise nu-hat = 0: use Bradley-Terry) and a strongly connected
    comparison graph. The covariance is the inverse expected=observed information (the model is
    a full likelihood for three outcomes, so no sandwich is needed for a correct model). With
    `prior_precision` > 0 (a resample without an MLE) theta gets independent
    N(0, 1/prior_precision) priors: MAP, posterior covariance projected onto centred theta.
    It also needs a decisive vote (with ties only, nu-hat is infinite).
    """
    lo = np.asarray(first, dtype=np.int64)
    hi = np.asarray(second, dtype=np.int64)
    w1 = np.asarray(wins_first, dtype=np.float64)
    w2 = np.asarray(wins_second, dtype=np.float64)
    t = np.asarray(ties, dtype=np.float64)
    n = w1 + w2 + t
    m = n_models
    if t.sum() <= 0:
        raise ValueError("the Davidson model needs at least one tie")
    if t.sum() >= n.sum():
        raise ValueError("the Davidson model needs a decisive vote (every vote is a tie)")
    share = t.sum() / n.sum()
    theta = np.zeros(m)
    log_nu = float(np.log(2 * share / (1 - share))) if share < 1 else 5.0

    def loglik(th: np.ndarray, ln: float) -> float:
        x, denom, _, _ = _parts(th, ln, lo, hi)
        penalty = 0.5 * prior_precision * float(th @ th)
        return float(np.sum((w1 - w2) * x + t * ln - n * np.log(denom))) - penalty

    def information(th: np.ndarray, ln: float) -> tuple[np.ndarray, np.ndarray]:
        x, denom, sinh2, nu = _parts(th, ln, lo, hi)
        g_x = w1 - w2 - n * sinh2 / denom
        g_l = float(np.sum(t - n * nu / denom))
        h_xx = n * (2 * np.cosh(x) / denom - (sinh2 / denom) ** 2)
        h_ll = n * (nu / denom - (nu / denom) ** 2)
        h_xl = -n * sinh2 * nu / denom**2
        info = np.zeros((m + 1, m + 1))
        w = h_xx / 4
        info[lo, hi] = -w
        info[hi, lo] = -w
        info[np.arange(m), np.arange(m)] = np.bincount(lo, w, minlength=m) + np.bincount(
            hi, w, minlength=m
        )
        cross = np.bincount(lo, h_xl / 2, minlength=m) - np.bincount(hi, h_xl / 2, minlength=m)
        info[:m, m] = cross
        info[m, :m] = cross
        info[m, m] = h_ll.sum()
        grad = np.zeros(m + 1)
        grad[:m] = np.bincount(lo, g_x / 2, minlength=m) - np.bincount(hi, g_x / 2, minlength=m)
        grad[m] = g_l
        info[np.arange(m), np.arange(m)] += prior_precision
        grad[:m] -= prior_precision * th
        return info, grad

    centring = np.zeros((m + 1, m + 1))
    if prior_precision == 0:
        centring[:m, :m] = 1.0 / m
    current = loglik(theta, log_nu)
    converged = False
    iterations = 0
    for iterations in range(1, 101):  # noqa: B007 - reported below
        info, grad = information(theta, log_nu)
        step = np.linalg.solve(info + centring, grad)
        scale = 1.0
        while True:
            cand_t, cand_l = theta + scale * step[:m], log_nu + scale * step[m]
            value = loglik(cand_t, cand_l)
            if value >= current - 1e-12 * abs(current) or scale < 1e-8:
                break
            scale *= 0.5
        theta, log_nu, current = cand_t, cand_l, value
        if np.max(np.abs(scale * step)) < _TOL:
            converged = True
            break
    info, _ = information(theta, log_nu)
    cov = np.linalg.inv(info + centring)
    if prior_precision == 0:
        cov[:m, :m] -= 1.0 / m
    else:
        projection = np.eye(m + 1)
        projection[:m, :m] -= 1.0 / m
        cov = projection @ cov @ projection.T
    return DavidsonFit(
        theta=theta,
        log_nu=float(log_nu),
        cov=(cov + cov.T) / 2,
        loglik=current,
        iterations=iterations,
        converged=converged,
    )
