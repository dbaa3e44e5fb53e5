"""The quality a routing policy is expected to deliver: one model per category, weighted by
each category's volume.

For category c with volume w_c, the routed model's rating difference to the reference model of
that category is d_c (Elo) with standard error se_c; its quality is the win probability
q_c = 1 / (1 + 10^(-d_c/400)) against the reference (0.5: as good as the reference). The
policy's quality is Q = sum_c w_c q_c / sum_c w_c. Categories are ranked on disjoint votes, so
their estimates are independent and, by the delta method (dq/dd = q (1 - q) ln(10) / 400),
Var Q = sum_c (w_c / W)^2 (q_c (1 - q_c) ln(10) / 400)^2 se_c^2. The interval is Q +- z se(Q),
clipped to [0, 1]. A category routed to its reference contributes exactly 0.5 with no variance.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

ELO_SCALE = 400.0 / math.log(10.0)


def win_probability(difference: float) -> float:
    return 1.0 / (1.0 + 10.0 ** (-difference / 400.0))


def routing_quality(
    volumes: np.ndarray, differences: np.ndarray, se: np.ndarray, *, level: float = 0.95
) -> dict[str, Any]:
    """`quality` (volume-weighted win probability against each category's reference) with
    `se`, `ci_low`, `ci_high`; None with a `message` when there is no volume or a difference
    has no standard error."""
    volumes = np.asarray(volumes, dtype=float)
    differences = np.asarray(differences, dtype=float)
    se = np.asarray(se, dtype=float)
    if len(volumes) == 0 or not np.all(volumes >= 0) or volumes.sum() <= 0:
        return _undefined("no category has a volume: the routing has no weight to average")
    if not (np.all(np.isfinite(differences)) and np.all(np.isfinite(se)) and np.all(se >= 0)):
        return _undefined("a routed category has no rating difference or standard error")
    weights = volumes / volumes.sum()
    q = 1.0 / (1.0 + 10.0 ** (-differences / 400.0))
    slope = q * (1 - q) / ELO_SCALE
    quality = float(weights @ q)
    quality_se = float(math.sqrt(float(np.sum((weights * slope * se) ** 2))))
    z = float(stats.norm.ppf(0.5 + level / 2))
    return {
        "quality": quality,
        "se": quality_se,
        "ci_low": max(0.0, quality - z * quality_se),
        "ci_high": min(1.0, quality + z * quality_se),
        "level": level,
    }


def _undefined(message: str) -> dict[str, Any]:
    return {"quality": None, "se": None, "ci_low": None, "ci_high": None, "message": message}
