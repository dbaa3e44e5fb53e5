"""Bradley-Terry with per-row covariates (home advantage, style control), by Newton's method.

The model without covariates, its normalisation and ELO_SCALE are in bradley_terry.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

from .bradley_terry import _MAX_NEWTON, _TOL, ELO_SCALE


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
