"""Adaptive assignment: how well the votes so far separate each pair of models.

The separation of models i and j is |theta_i - theta_j| / se(theta_i - theta_j) from a
Bradley-Terry fit (evaluations.analysis.bradley_terry, sandwich covariance) on the study's votes
aggregated per candidate pair; ties and "both bad" count half a win each way. A small separation
means their intervals overlap most, so the next vote there is the likeliest to change the
ranking. When some model never wins or never loses the MLE does not exist and the fit uses the
analysis module's weak prior instead.
"""

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max

from evaluations.analysis.bradley_terry import (
    DEGENERATE_PRIOR_PRECISION,
    comparison_structure,
    fit_bradley_terry,
)
from evaluations.models import Study
from raters.models import Vote

CACHE_SECONDS = 30
SCORE_OF_A = {
    Vote.Choice.A: 1.0,
    Vote.Choice.B: 0.0,
    Vote.Choice.TIE: 0.5,
    Vote.Choice.BOTH_BAD: 0.5,
}


def _separation_compute(study: Study) -> dict[tuple[int, int], float]:
    rows = list(
        Vote.objects.filter(study=study, pair__gold_answer="")
        .values_list("pair__output_a__candidate_id", "pair__output_b__candidate_id", "choice")
        .annotate(n=Count("pk"))
        .order_by()
    )
    if not rows:
        return {}
    candidates = sorted({r[0] for r in rows} | {r[1] for r in rows})
    index = {cid: i for i, cid in enumerate(candidates)}
    a = np.array([index[r[0]] for r in rows])
    b = np.array([index[r[1]] for r in rows])
    y = np.array([SCORE_OF_A[r[2]] for r in rows])
    n = np.array([r[3] for r in rows], dtype=float)
    m = len(candidates)
    structure = comparison_structure(a, b, y, n, m)
    degenerate = (
        structure.n_components != 1
        or not all(structure.strongly_connected)
        or structure.never_wins.any()
        or structure.never_loses.any()
    )
    fit = fit_bradley_terry(
        a, b, y, n, m, prior_precision=DEGENERATE_PRIOR_PRECISION if degenerate else 0.0
    )
    separation: dict[tuple[int, int], float] = {}
    for i, ci in enumerate(candidates):
        for j in range(i + 1, m):
            cj = candidates[j]
            variance = fit.cov[i, i] + fit.cov[j, j] - 2 * fit.cov[i, j]
            gap = abs(fit.theta[i] - fit.theta[j])
            z = gap / np.sqrt(variance) if variance > 1e-12 else float("inf")
            separation[(min(ci, cj), max(ci, cj))] = float(z)
    return separation


def model_pair_separation(*, study: Study) -> dict[tuple[int, int], float]:
    """Separation (in standard errors) per unordered candidate-id pair; smaller is harder.

    Cached briefly per study and newest vote, so a burst of assignments fits the model once.
    """
    newest = Vote.objects.filter(study=study).aggregate(newest=Max("pk"))["newest"]
    key = f"raters:adaptive:{study.pk}:{newest}"
    separation = cache.get(key)
    if separation is None:
        separation = _separation_compute(study)
        cache.set(key, separation, CACHE_SECONDS)
    return separation
