"""The distribution functions taken from scipy.special equal scipy.stats' own."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from evaluations.analysis.distributions import chi2_sf, norm_ppf, norm_sf, t_ppf, t_sf

xs = st.floats(-40, 40, allow_nan=False)
qs = st.floats(1e-12, 1 - 1e-12)
dfs = st.integers(1, 10_000)


@settings(max_examples=300, deadline=None)
@given(x=xs, q=qs, df=dfs)
def test_each_function_equals_scipy_stats(x, q, df):
    assert norm_ppf(q) == stats.norm.ppf(q)
    assert norm_sf(x) == stats.norm.sf(x)
    assert t_ppf(q, df) == stats.t.ppf(q, df)
    assert t_sf(x, df) == stats.t.sf(x, df)
    assert chi2_sf(abs(x), df) == stats.chi2.sf(abs(x), df)
    assert chi2_sf(-abs(x) - 1e-12, df) == stats.chi2.sf(-abs(x) - 1e-12, df) == 1.0


def test_arrays_are_evaluated_elementwise():
    x = np.array([-3.0, 0.0, 1.5])
    np.testing.assert_array_equal(t_sf(x, 7), stats.t.sf(x, 7))
    np.testing.assert_array_equal(norm_sf(x), stats.norm.sf(x))


def test_the_analysis_does_not_import_scipy_stats():
    import subprocess
    import sys

    code = "import sys, evaluations.analysis; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
