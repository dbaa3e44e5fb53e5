"""Prediction-powered Bradley-Terry ratings (PPI++): LLM judges' verdicts on every pair, human
votes on a subset, intervals valid whatever the judge's quality.

Contract. Rows are comparisons (model_a, model_b). `judge_score` is model_a's score in [0, 1]
from each of K judges (one column per judge; a 1-D array is one judge), known on every row: a
verdict (1, 1/2, 0) or, better, an average of several (both presentation orders, several
samples), or a probability. `human_score` is known on the labelled rows (NaN elsewhere). The
labelled rows must be a random subset of the rows (the judges' scores are the same function of
the pair on both), and are treated as independent. The estimate minimises (Angelopoulos, Duchi
and Zrnic 2023; with K judges, one weight each)

    L(theta) = (1/n) sum_lab l(y_i)
               + sum_k lambda_k [ (1/N) sum_unlab l(f_kj) - (1/n) sum_lab l(f_ki) ]

with l the Bradley-Terry log-loss, so each judge's bias cancels in expectation: the judges only
reduce variance, by as much as their scores correlate with the humans' (for lambda = 0 it is
the human-only fit). lambda is the PPI++ power-tuning choice: the minimiser of the trace of the
asymptotic covariance (the sum of the centred ratings' variances), a quadratic in lambda, under
0 <= lambda_k and sum_k lambda_k <= 1 (for one judge: PPI++'s closed form clipped to [0, 1]).
The covariance is H^-1 (V_delta / n + V_f / N) H^-1, with V_delta the covariance of the
labelled rows' gradient differences l'(y) - sum_k lambda_k l'(f_k) and V_f that of the
unlabelled rows' sum_k lambda_k l'(f_k), then scaled so that +-1.96 se is each rating's t
interval with Satterthwaite degrees of freedom (`_t_reference`). `effective_human_votes` is n
times the ratio of the human-only to the PPI variance (averaged over the ratings): the number
of human votes alone that would give the same precision.

The gain is bounded by the information a judge gives per row: with N >> n the variance falls by
the squared (multiple) correlation of the judges' gradients with the humans'. One hard verdict
that agrees with the human vote with probability a correlates at 2a - 1 (0.6 at 80%: at most
20% narrower); the average of k verdicts with independent errors at (2a - 1) /
sqrt((2a - 1)^2 + 4a(1 - a)/k) (0.73 for two orders at 80%; 0.83 for four calls). A judge's
probability for its verdict carries more than the verdict, once recalibrated to predict the
human vote (ppi_crossfit.py; benchmarks/ppi_simulation.py measures both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from scipy.stats import norm
from scipy.stats import t as t_dist

from .bradley_terry import _MAX_NEWTON, _TOL, ELO_SCALE


@dataclass(frozen=True)
class PPIFit:
    theta: np.ndarray
    cov: np.ndarray  # of theta (centred), natural units
    human_only_theta: np.ndarray
    human_only_cov: np.ndarray
    tuning: float  # sum of the judges' lambdas: the weight the judges get in all
    judge_weights: tuple[float, ...]  # lambda per judge
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
    tuning: float | np.ndarray | None = None,
) -> PPIFit:
    """PPI++ Bradley-Terry (see the module docstring); `tuning` fixes lambda (one number per
    judge, or one for all) instead of tuning it."""
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    f = np.asarray(judge_score, dtype=np.float64)
    f = f[:, None] if f.ndim == 1 else f
    y = np.asarray(human_score, dtype=np.float64)
    if f.shape[0] != len(a) or not np.isfinite(f).all():
        raise ValueError("every comparison needs a finite score from every judge")
    lab = np.isfinite(y)
    n, big_n, m = int(lab.sum()), int((~lab).sum()), n_models
    if n < 2:
        raise ValueError("PPI needs at least two comparisons with a human vote")
    if big_n == 0:
        raise ValueError("PPI needs comparisons with a judge verdict and no human vote")
    al, bl, yl, fl = a[lab], b[lab], y[lab], f[lab]
    au, bu, fu = a[~lab], b[~lab], f[~lab]
    centring = np.full((m, m), 1.0 / m)

    k = f.shape[1]

    def fit(lam: np.ndarray) -> np.ndarray:
        # Labelled rows: human target minus the weighted judge targets; unlabelled: the judges.
        total = float(lam.sum())
        aa, bb = np.r_[al, au], np.r_[bl, bu]
        wy = np.r_[np.full(n, 1.0 / n), np.full(big_n, 1.0 / big_n)]
        target = np.r_[yl - fl @ lam, fu @ lam]
        wp = np.r_[np.full(n, (1 - total) / n), np.full(big_n, total / big_n)]
        return _solve(aa, bb, target, wy, wp, m)

    def pieces(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, list, list]:
        pl = expit(theta[al] - theta[bl])
        pu = expit(theta[au] - theta[bu])
        hess = (_gram(al, bl, pl * (1 - pl), m) + _gram(au, bu, pu * (1 - pu), m)) / (n + big_n)
        h_inv = np.linalg.inv(hess + centring) - centring
        return (
            h_inv,
            _grad_rows(al, bl, yl - pl, m),
            [_grad_rows(al, bl, fl[:, j] - pl, m) for j in range(k)],
            [_grad_rows(au, bu, fu[:, j] - pu, m) for j in range(k)],
        )

    human_theta = fit(np.zeros(k))
    h_inv, gy, gf, gu = pieces(human_theta)
    human_cov = h_inv @ np.cov(gy, rowvar=False) @ h_inv / n
    if tuning is None:
        lam = _power_tuning(h_inv, gy, gf, gu)
    else:
        lam = np.broadcast_to(np.asarray(tuning, dtype=np.float64), (k,)).copy()
    theta = fit(lam)
    h_inv, gy, gf, gu = pieces(theta)
    v_delta = np.cov(gy - sum(w * g for w, g in zip(lam, gf, strict=True)), rowvar=False)
    judged = sum(w * g for w, g in zip(lam, gu, strict=True))
    v_f = np.cov(judged, rowvar=False) if big_n > 1 else np.zeros((m, m))
    cov = h_inv @ (v_delta / n + v_f / big_n) @ h_inv
    cov = (cov + cov.T) / 2
    residual = gy - sum(w * g for w, g in zip(lam, gf, strict=True))
    cov = _t_reference(cov, residual @ h_inv, judged @ h_inv)
    ratio = np.trace(human_cov) / np.trace(cov) if np.trace(cov) > 0 else 1.0
    return PPIFit(
        theta=theta,
        cov=cov,
        human_only_theta=human_theta,
        human_only_cov=human_cov,
        tuning=float(lam.sum()),
        judge_weights=tuple(float(x) for x in lam),
        human_votes=n,
        judge_only_votes=big_n,
        effective_human_votes=float(n * ratio),
    )


def _t_reference(cov: np.ndarray, lab: np.ndarray, unlab: np.ndarray) -> np.ndarray:
    """The covariance scaled so that +-1.96 se is the t interval with each rating's
    Satterthwaite degrees of freedom (`lab`, `unlab`: the rows' influence on the ratings).

    Why: with a judge that agrees with humans 90% of the time the rectifier's rows (human minus
    weighted judge) are nearly all small and a few large (a confident judge that is wrong), so
    their variance rests on a few rows and is itself noisy; the normal reference then covered
    about 0.93 (benchmarks/ppi_simulation.py). A rating's variance v is a sum of the rows'
    squared influences u_i^2 / n^2; its degrees of freedom are 2 v^2 / Var(v) with Var(v)
    estimated from the u_i^2 (2n / (kurtosis - 1) for one sample: 600 for normal rows,
    tens at 90% agreement). Each se is multiplied by t_df(0.975) / z(0.975)."""
    n, big_n = len(lab), len(unlab)
    sq_l = (lab - lab.mean(axis=0)) ** 2
    sq_u = (unlab - unlab.mean(axis=0)) ** 2
    v = sq_l.sum(axis=0) / n**2 + sq_u.sum(axis=0) / big_n**2
    var_v = sq_l.var(axis=0) / n**3 + sq_u.var(axis=0) / big_n**3
    positive = var_v > 0
    df = np.full(len(v), np.inf)
    df[positive] = np.maximum(2 * v[positive] ** 2 / var_v[positive], 1.0)
    scale = t_dist.ppf(0.975, df) / norm.ppf(0.975)
    return cov * np.outer(scale, scale)


def _power_tuning(h_inv: np.ndarray, gy: np.ndarray, gf: list, gu: list) -> np.ndarray:
    """The lambdas minimising trace H^-1 (V_delta / n + V_f / N) H^-1 (PPI++, eq. 6 for one
    judge): lambda' A lambda - 2 b' lambda with A_kl = (1/n + 1/N) tr H^-1 C(f_k, f_l) H^-1 and
    b_k = tr H^-1 C(y, f_k) H^-1 / n, under 0 <= lambda_k, sum lambda_k <= 1."""
    n, big_n, k = len(gy), len(gu[0]), len(gf)

    def projected(g: np.ndarray) -> np.ndarray:
        return (g - g.mean(axis=0)) @ h_inv

    y_proj = projected(gy)
    judge_proj = [projected(np.r_[lab, unlab]) for lab, unlab in zip(gf, gu, strict=True)]
    lab_proj = [projected(g) for g in gf]
    a = np.array([[np.sum(p * q) for q in judge_proj] for p in judge_proj]) / (n + big_n - 1)
    a *= 1 / n + 1 / big_n
    b = np.array([np.sum(y_proj * p) for p in lab_proj]) / (n - 1) / n
    if k == 1:
        return np.array([float(np.clip(b[0] / a[0, 0], 0, 1)) if a[0, 0] > 0 else 0.0])
    scale = np.trace(a) / k  # SLSQP's tolerances are absolute: work on an O(1) objective
    if scale <= 0:
        return np.zeros(k)
    a, b = a / scale, b / scale
    result = minimize(
        lambda lam: lam @ a @ lam - 2 * b @ lam,
        np.full(k, 0.5 / k),
        jac=lambda lam: 2 * (a @ lam - b),
        bounds=[(0.0, 1.0)] * k,
        constraints=[
            {"type": "ineq", "fun": lambda lam: 1 - lam.sum(), "jac": lambda _: -np.ones(k)}
        ],
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 200},
    )
    lam = np.clip(result.x, 0, 1)
    return lam / max(1.0, float(lam.sum()))
