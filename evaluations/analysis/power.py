"""How many more votes would separate two models, at a chosen power.

With the votes keeping their current mix, the standard error of a difference scales as
1/sqrt(votes). To reject "no difference" at two-sided level alpha with probability `power` when
the true difference is d, the total must reach n (crit + z_power)^2 / z^2 with z = d / se now.
The plan takes the estimated difference for the true one; where that estimate is within one
standard error of zero the true difference may well be zero, and then no number of votes
separates the pair, so no number is given.
"""

from __future__ import annotations

import math
from typing import Any

from .distributions import norm_ppf

DEFAULT_POWER = 0.8


def votes_needed(
    difference: float, se: float, total: float, *, power: float = DEFAULT_POWER, crit: float
) -> dict[str, Any]:
    """`additional_votes` (or None with a `message`) to separate a pair at `power`."""
    if not 0 < power < 1:
        raise ValueError("power must be between 0 and 1")
    if se <= 0 or not math.isfinite(se):
        return {
            "additional_votes": None,
            "message": "no standard error for this difference: no plan possible",
        }
    z = abs(difference) / se
    if z < 1:
        return {
            "additional_votes": None,
            "message": "cannot be separated at any size: the estimated difference is within one "
            "standard error of zero, so the true difference may be zero",
        }
    required = total * ((crit + float(norm_ppf(power))) / z) ** 2
    return {"additional_votes": int(math.ceil(max(required - total, 0)))}
