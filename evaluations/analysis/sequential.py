"""Always-valid (anytime) tests and confidence sequences for rating differences.

Researchers look at results while votes arrive and stop when a pair is significant. A
fixed-sample p-value checked after every vote crosses 0.05 far more often than 5% of the time
under no difference. The normal-mixture martingale (Robbins 1970; Howard et al. 2021) does not:
with the estimate d of a difference, its standard error se and information I = 1/se^2 (natural
log-strength units), M = (1 + tau^2 I)^(-1/2) exp(z^2 tau^2 I / (2 (1 + tau^2 I))) is a
(asymptotic) nonnegative martingale under d = 0, so by Ville's inequality P(M ever >= 1/alpha)
<= alpha: p = min(1, 1/M) may be read after every vote, and the confidence sequence
d +- se sqrt((1 + tau^2 I) / (tau^2 I) (log(1 + tau^2 I) + 2 log(1 / alpha))) covers the true
difference at all times at once with probability 1 - alpha.

tau, the mixing scale, is fixed in advance (not tuned on the data, which would void the
guarantee): 0.5 natural-log units, about 87 Elo, the size of difference studies look for. The
validity is asymptotic (the Gaussian approximation of the score process), like the sandwich's;
benchmarks/statistics_simulation.py measures the error under continuous monitoring.
"""

from __future__ import annotations

import numpy as np

from .bradley_terry import ELO_SCALE

MIXTURE_SCALE = 0.5  # tau, natural log-strength units


def anytime_p_value(
    difference: np.ndarray, se: np.ndarray, tau: float = MIXTURE_SCALE
) -> np.ndarray:
    """Always-valid p-values min(1, 1/M) for differences on the Elo scale (null where se = 0)."""
    d = np.asarray(difference, dtype=np.float64) / ELO_SCALE
    s = np.asarray(se, dtype=np.float64) / ELO_SCALE
    with np.errstate(divide="ignore", invalid="ignore"):
        info = 1.0 / s**2
        a = tau**2 * info
        log_m = -0.5 * np.log1p(a) + (d / s) ** 2 * a / (2 * (1 + a))
    p = np.exp(-np.clip(log_m, 0, None))
    return np.where(s > 0, p, np.nan)


def confidence_sequence_halfwidth(
    se: np.ndarray, alpha: float = 0.05, tau: float = MIXTURE_SCALE
) -> np.ndarray:
    """Half-width (Elo) of the always-valid 1 - alpha confidence sequence for a difference."""
    s = np.asarray(se, dtype=np.float64) / ELO_SCALE
    with np.errstate(divide="ignore", invalid="ignore"):
        a = tau**2 / s**2
        width = s * np.sqrt((1 + a) / a * (np.log1p(a) + 2 * np.log(1 / alpha)))
    return np.where(s > 0, width * ELO_SCALE, 0.0)
