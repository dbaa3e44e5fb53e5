"""The few distribution functions the analysis needs, straight from `scipy.special`.

They are the functions `scipy.stats` itself evaluates (norm.sf is ndtr(-x), t.ppf is
stdtrit(df, q), ...), without importing `scipy.stats`, which costs `manage.py analyze` about a
second of start-up on a loaded 2-core machine. tests/analysis/test_distributions.py checks them
against `scipy.stats`.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def norm_ppf(q: float | np.ndarray) -> np.ndarray:
    return special.ndtri(q)


def norm_sf(x: float | np.ndarray) -> np.ndarray:
    return special.ndtr(-np.asarray(x, dtype=np.float64))


def t_ppf(q: float | np.ndarray, df: float) -> np.ndarray:
    return special.stdtrit(df, q)


def t_sf(x: float | np.ndarray, df: float) -> np.ndarray:
    return special.stdtr(df, -np.asarray(x, dtype=np.float64))


def chi2_sf(x: float | np.ndarray, df: float) -> np.ndarray:
    # Below the support (a likelihood ratio a rounding error below zero) the survival is 1.
    return special.chdtrc(df, np.maximum(np.asarray(x, dtype=np.float64), 0.0))
