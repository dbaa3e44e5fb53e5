"""Cross-fitted recalibration of judge scores on the human-labelled comparisons, for PPI.

Cross-prediction-powered inference (Zrnic and Candes 2024, "Cross-prediction-powered
inference", PNAS): the labelled rows are split into K folds; a predictor of the human score is
fitted on K - 1 folds and predicts the held-out fold, so a labelled row's prediction never saw
its own vote; an unlabelled row gets the average of the K fold predictors, weighted by the
folds' sizes. The Bradley-Terry gradient is linear in the target, so the PPI correction
(labelled: human minus prediction) stays unbiased for the unlabelled term whatever the
predictors are, and `ppi_bradley_terry` on these predictions gives valid intervals (the
fold-to-fold variation of the predictors is ignored in the variance, as in the paper; the
simulation in benchmarks/statistics_simulation.py checks the coverage).

The predictor is a Bradley-Terry model with the judges' scores as covariates, fitted to the
human score (a 1, tie 1/2, b 0) by penalised quasi-likelihood:

    P(human prefers a) = expit(beta_0 + sum_k [beta_k1 (s_k - 1/2) + beta_k2 logit(s_k)]
                               + theta_a - theta_b)

with s_k judge k's score clipped to [0.001, 0.999] inside the logit. The model terms
theta_a - theta_b let it learn what the pair alone says, so the prediction's pair-level bias
(a judge that favours one model) is removed; the two score terms map a hard verdict average
(0, 1/4, 1/2, 3/4, 1) or a log-probability-based probability, however over- or
under-confident, to the human's probability. Each judge is recalibrated on its own. A
ridge penalty of 1 (a N(0, 1) prior on every coefficient but the intercept) keeps the fit
finite when a fold separates. Why: the gain of PPI is bounded by the correlation of the
prediction with the human vote, and this makes the prediction the best available estimate of
E[human | judges' scores, pair] instead of the raw score.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

FOLDS = 10
PENALTY = 1.0
_CLIP = 1e-3
_MAX_NEWTON = 50
_TOL = 1e-9


def _features(a: np.ndarray, b: np.ndarray, scores: np.ndarray, n_models: int) -> np.ndarray:
    """Intercept, s - 1/2, logit(s), then the models' +1/-1 indicators."""
    clipped = np.clip(scores, _CLIP, 1 - _CLIP)
    models = np.zeros((len(a), n_models))
    rows = np.arange(len(a))
    models[rows, a] += 1.0
    models[rows, b] -= 1.0
    return np.column_stack([np.ones(len(a)), scores - 0.5, logit(clipped), models])


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Penalised logistic (quasi-likelihood: y may be 1/2) by Newton; no penalty on column 0."""
    penalty = np.full(x.shape[1], PENALTY)
    penalty[0] = 1e-8
    beta = np.zeros(x.shape[1])
    for _ in range(_MAX_NEWTON):
        p = expit(x @ beta)
        grad = x.T @ (y - p) - penalty * beta
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        step *= min(1.0, 5.0 / max(np.abs(step).max(), 1e-300))
        beta += step
        if np.abs(step).max() < _TOL:
            break
    return beta


def judge_scores_crossfit(
    model_a: np.ndarray,
    model_b: np.ndarray,
    judge_score: np.ndarray,
    human_score: np.ndarray,
    n_models: int,
    *,
    groups: np.ndarray | None = None,
    folds: int = FOLDS,
    seed: int = 0,
) -> np.ndarray:
    """Recalibrated scores (see the module docstring): out of fold on the rows with a human
    score, the size-weighted mean of the fold predictors elsewhere. `judge_score` has one
    column per judge (a 1-D array is one judge), each recalibrated on its own, so that
    `ppi_bradley_terry` still tunes one weight per judge. `groups` keeps the rows of one group
    (the votes on one pair) in one fold. The folds are drawn with `seed`, so the same data
    always gives the same scores."""
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    s = np.asarray(judge_score, dtype=np.float64)
    s = s[:, None] if s.ndim == 1 else s
    y = np.asarray(human_score, dtype=np.float64)
    if s.shape[0] != len(a) or not np.isfinite(s).all():
        raise ValueError("every comparison needs a finite score from every judge")
    lab = np.isfinite(y)
    g = np.arange(len(a)) if groups is None else np.asarray(groups)
    labelled_groups = np.unique(g[lab])
    k = min(folds, len(labelled_groups))
    if k < 2:
        raise ValueError("cross-fitting needs human votes on at least two pairs")
    order = np.random.default_rng(seed).permutation(len(labelled_groups))
    fold_of_group = dict(
        zip(labelled_groups[order].tolist(), np.arange(len(order)) % k, strict=True)
    )
    fold = np.array([fold_of_group[v] for v in g[lab].tolist()])
    out = np.empty_like(s)
    for j in range(s.shape[1]):
        x = _features(a, b, s[:, j], n_models)
        xl, yl = x[lab], y[lab]
        held = np.empty(len(xl))
        unlab = np.zeros(int((~lab).sum()))
        for f in range(k):
            train = fold != f
            beta = _fit(xl[train], yl[train])
            held[~train] = expit(xl[~train] @ beta)
            unlab += np.mean(~train) * expit(x[~lab] @ beta)
        out[lab, j] = held
        out[~lab, j] = unlab
    return out[:, 0] if np.ndim(judge_score) == 1 else out
