"""PPI++ with several judge score columns: both presentation orders averaged, several judges
each with its own power-tuning weight (evaluations/analysis/ppi.py)."""

import numpy as np
import pytest
from scipy.special import expit

from evaluations.analysis.ppi import _power_tuning, ppi_bradley_terry


def _study(rng: np.random.Generator, agreements: list[float], calls: int, n=300, big_n=6000):
    """Human votes on the first n rows; per judge, the mean of `calls` verdicts, each agreeing
    with the human vote with the judge's probability, errors independent."""
    m = 6
    theta = rng.normal(0, 100, m) / 173.7178
    a = rng.integers(0, m, n + big_n)
    b = (a + rng.integers(1, m, n + big_n)) % m
    y = (rng.random(n + big_n) < expit(theta[a] - theta[b])).astype(float)
    columns = [
        np.mean([np.where(rng.random(len(y)) < p, y, 1 - y) for _ in range(calls)], axis=0)
        for p in agreements
    ]
    human = y.copy()
    human[n:] = np.nan
    return a, b, np.array(columns).T, human, m


def _width_ratio(fit) -> float:
    return float(np.sqrt(np.diag(fit.cov)).mean() / np.sqrt(np.diag(fit.human_only_cov)).mean())


def test_two_judges_in_both_orders_at_80_percent_narrow_the_intervals_by_30_percent():
    a, b, f, human, m = _study(np.random.default_rng(11), [0.8, 0.8], calls=2)
    fit = ppi_bradley_terry(a, b, f, human, m)
    assert _width_ratio(fit) < 0.70
    assert len(fit.judge_weights) == 2
    assert fit.tuning == pytest.approx(sum(fit.judge_weights))
    assert fit.effective_human_votes > 300 / 0.70**2


def test_a_useless_second_judge_gets_no_weight_and_costs_no_width():
    a, b, f, human, m = _study(np.random.default_rng(12), [0.8, 0.5], calls=2)
    both = ppi_bradley_terry(a, b, f, human, m)
    alone = ppi_bradley_terry(a, b, f[:, 0], human, m)
    assert both.judge_weights[1] < 0.05
    assert _width_ratio(both) == pytest.approx(_width_ratio(alone), abs=0.01)


def test_one_judge_as_a_column_is_the_one_dimensional_fit():
    a, b, f, human, m = _study(np.random.default_rng(13), [0.8], calls=2, big_n=2000)
    column = ppi_bradley_terry(a, b, f, human, m)
    flat = ppi_bradley_terry(a, b, f[:, 0], human, m)
    assert column.theta == pytest.approx(flat.theta, abs=1e-12)
    assert column.cov == pytest.approx(flat.cov, abs=1e-12)


@pytest.mark.parametrize("weights", [[0.6], [0.5, 0.2], [0.0, 0.9], [1.5, 0.0]])
def test_the_tuned_weights_minimise_the_summed_variance(weights):
    # PPI++ power tuning (c): lambda minimises trace H^-1 (V_delta / n + V_f / N) H^-1 over
    # 0 <= lambda_k, sum <= 1; checked against a grid search of that trace computed directly.
    rng = np.random.default_rng(14)
    n, big_n, m = 200, 1000, 4
    h_inv = np.linalg.inv(rng.normal(size=(m, m)) + 3 * np.eye(m))
    h_inv = h_inv @ h_inv.T
    gy = rng.normal(size=(n, m))
    noise = lambda rows: rng.normal(size=(rows, m))  # noqa: E731
    gf = [w * gy + noise(n) for w in weights]
    gu = [w * noise(big_n) + noise(big_n) for w in weights]
    tuned = _power_tuning(h_inv, gy, gf, gu)

    def summed_variance(lam):
        pooled = [np.r_[lab, unlab] for lab, unlab in zip(gf, gu, strict=True)]
        judged = sum(w * g for w, g in zip(lam, pooled, strict=True))
        cross = sum(w * g for w, g in zip(lam, gf, strict=True))
        v = np.cov(gy, rowvar=False) / n + np.cov(judged, rowvar=False) * (1 / n + 1 / big_n)
        c = (gy - gy.mean(0)).T @ (cross - cross.mean(0)) / (n - 1) / n
        return np.trace(h_inv @ (v - c - c.T) @ h_inv)

    grid = np.linspace(0, 1, 101)
    points = np.array(np.meshgrid(*[grid] * len(weights))).reshape(len(weights), -1).T
    best = min(summed_variance(p) for p in points if p.sum() <= 1 + 1e-12)
    assert np.all(tuned >= 0) and tuned.sum() <= 1 + 1e-9
    assert summed_variance(tuned) <= best + 1e-9


def test_a_judge_score_that_is_not_finite_is_refused():
    a, b, f, human, m = _study(np.random.default_rng(15), [0.8], calls=1, big_n=100)
    f[3, 0] = np.nan
    with pytest.raises(ValueError, match="finite score from every judge"):
        ppi_bradley_terry(a, b, f, human, m)
