"""Cross-fitted recalibration of judge scores (evaluations/analysis/ppi_crossfit.py): a human
row's prediction never sees its own vote, recalibration undoes over-confidence and even a
reversed judge, and the result is finite whatever the input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from evaluations.analysis.ppi import ppi_bradley_terry
from evaluations.analysis.ppi_crossfit import judge_scores_crossfit


def _study(rng, n=300, big_n=3000, m=5, agreement_mu=0.84, kappa=4.0, reverse=False):
    truth = rng.normal(0, 0.6, m)
    a = rng.integers(0, m, n + big_n)
    b = (a + rng.integers(1, m, n + big_n)) % m
    y = (rng.random(n + big_n) < expit(truth[a] - truth[b])).astype(float)
    t = (2 * y - 1) * agreement_mu + rng.standard_normal(n + big_n)
    score = expit(-kappa * t if reverse else kappa * t)
    human = y.copy()
    human[n:] = np.nan
    return a, b, score, human, y, m


def test_a_human_rows_prediction_does_not_depend_on_its_own_vote():
    a, b, score, human, _, m = _study(np.random.default_rng(1), n=120, big_n=200)
    before = judge_scores_crossfit(a, b, score, human, m)
    flipped = human.copy()
    flipped[7] = 1 - flipped[7]
    after = judge_scores_crossfit(a, b, score, flipped, m)
    assert after[7] == before[7]
    assert not np.allclose(after[:120], before[:120])  # its vote trained the other folds


def test_rows_of_one_group_share_a_fold():
    a, b, score, human, _, m = _study(np.random.default_rng(2), n=100, big_n=50)
    groups = np.r_[np.arange(100) // 2, 1000 + np.arange(50)]
    before = judge_scores_crossfit(a, b, score, human, m, groups=groups)
    flipped = human.copy()
    flipped[11] = 1 - flipped[11]  # row 10 is its group mate: same fold, so untouched
    after = judge_scores_crossfit(a, b, score, flipped, m, groups=groups)
    assert after[10] == before[10] and after[11] == before[11]


def test_recalibration_undoes_an_over_confident_judge():
    a, b, score, human, y, m = _study(np.random.default_rng(3))
    recalibrated = judge_scores_crossfit(a, b, score, human, m)
    unlabelled = np.isnan(human)
    brier_raw = np.mean((score[unlabelled] - y[unlabelled]) ** 2)
    brier_recalibrated = np.mean((recalibrated[unlabelled] - y[unlabelled]) ** 2)
    assert brier_recalibrated < 0.9 * brier_raw


def test_a_reversed_judge_helps_once_recalibrated():
    # PPI++ alone gives a judge that is always wrong-way-round weight 0; recalibration reads it.
    a, b, score, human, _, m = _study(np.random.default_rng(4), reverse=True)
    raw = ppi_bradley_terry(a, b, score, human, m)
    recalibrated = ppi_bradley_terry(a, b, judge_scores_crossfit(a, b, score, human, m), human, m)
    assert raw.tuning == pytest.approx(0, abs=0.02)
    assert np.trace(recalibrated.cov) < 0.7 * np.trace(raw.human_only_cov)


def test_cross_fitting_needs_two_labelled_pairs():
    with pytest.raises(ValueError, match="at least two pairs"):
        judge_scores_crossfit(
            np.array([0, 0, 1]), np.array([1, 1, 0]), np.array([0.2, 0.9, 0.5]),
            np.array([1.0, 0.0, np.nan]), 2, groups=np.array([5, 5, 6]),
        )  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda m: st.tuples(
            st.just(m),
            st.lists(
                st.tuples(
                    st.integers(0, m - 1),
                    st.integers(1, m - 1),
                    st.sampled_from([0.0, 1.0]) | st.floats(0, 1),
                    st.sampled_from([np.nan, 0.0, 0.5, 1.0]),
                ),
                min_size=2,
                max_size=40,
            ),
        )
    )
)
def test_recalibrated_scores_are_probabilities_whatever_the_input(study):
    m, rows = study
    a = np.array([r[0] for r in rows])
    b = (a + np.array([r[1] for r in rows])) % m
    score = np.array([r[2] for r in rows])
    human = np.array([r[3] for r in rows])
    try:
        out = judge_scores_crossfit(a, b, score, human, m)
    except ValueError as exc:
        assert "at least two pairs" in str(exc)
        return
    assert out.shape == score.shape
    assert np.all(np.isfinite(out)) and np.all((out > 0) & (out < 1))
