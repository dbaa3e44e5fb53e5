"""The non-inferiority test and the routing estimate against examples worked by hand.

Normal and t tail values are from printed tables (Phi(1.5) = 0.93319, Phi(4) = 0.99996833,
t with 9 df: P(T > 1.5) = 0.0839); the rest is arithmetic shown beside each number.
"""

import math

import numpy as np
import pytest

from evaluations.analysis.noninferiority import (
    holm_adjust,
    margin_from_win_probability_points,
    noninferiority_test,
    noninferiority_votes_needed,
)
from evaluations.analysis.routing import routing_quality


def test_ten_points_of_win_probability_is_70_elo():
    # p = 0.4: 400 log10(1 / 0.4 - 1) = 400 log10(1.5) = 400 x 0.176091 = 70.44
    assert margin_from_win_probability_points(10) == pytest.approx(70.4365, abs=1e-4)


@pytest.mark.parametrize("points", [0, -5, 50, 80])
def test_a_win_probability_margin_outside_0_to_50_points_is_refused(points):
    with pytest.raises(ValueError, match="between 0 and 50"):
        margin_from_win_probability_points(points)


def test_two_candidates_by_hand_one_accepted_after_holm():
    # b: (-20 + 50) / 20 = 1.5, p = 1 - 0.93319 = 0.06681
    # c: (-10 + 50) / 10 = 4.0, p = 1 - 0.99996833 = 3.167e-5
    # Holm: c first, 2 x 3.167e-5 = 6.33e-5 < 0.05 accepted; b then 1 x 0.06681 > 0.05 not.
    b, c = noninferiority_test(np.array([-20.0, -10.0]), np.array([20.0, 10.0]), 50.0)
    assert b["statistic"] == pytest.approx(1.5)
    assert b["p_value"] == pytest.approx(0.06681, abs=1e-5)
    assert b["p_value_holm"] == pytest.approx(0.06681, abs=1e-5)
    assert not b["non_inferior"]
    assert c["p_value"] == pytest.approx(3.167e-5, rel=1e-3)
    assert c["p_value_holm"] == pytest.approx(6.334e-5, rel=1e-3)
    assert c["non_inferior"]


def test_clustered_degrees_of_freedom_use_the_t_tail():
    (entry,) = noninferiority_test(np.array([-20.0]), np.array([20.0]), 50.0, df=9)
    assert entry["p_value"] == pytest.approx(0.0839, abs=1e-4)


def test_a_candidate_without_standard_error_is_not_accepted_and_not_in_the_family():
    untested, tested = noninferiority_test(np.array([0.0, -10.0]), np.array([0.0, 20.0]), 50.0)
    assert untested == {
        "statistic": None,
        "p_value": None,
        "p_value_holm": None,
        "non_inferior": False,
    }
    # Alone in the Holm family: (40 / 20) = 2, p = 0.02275, unadjusted.
    assert tested["p_value_holm"] == pytest.approx(0.02275, abs=1e-5)


def test_a_non_positive_margin_is_refused():
    with pytest.raises(ValueError, match="positive"):
        noninferiority_test(np.array([-1.0]), np.array([1.0]), 0.0)


def test_holm_adjustment_by_hand():
    # sorted 0.01, 0.02, 0.04: 3 x 0.01 = 0.03, 2 x 0.02 = 0.04, 1 x 0.04 = 0.04
    assert holm_adjust(np.array([0.04, 0.01, 0.02])).tolist() == pytest.approx([0.04, 0.03, 0.04])


def test_votes_needed_to_show_non_inferiority_by_hand():
    # distance 30, z = 1.5; Bonferroni over 2: crit = z(0.975) = 1.95996, z(0.8) = 0.84162;
    # 400 x ((1.95996 + 0.84162) / 1.5)^2 = 1395.36 in all, 996 more.
    plan = noninferiority_votes_needed(-20.0, 20.0, 50.0, 400, candidates=2)
    assert plan == {"additional_votes": 996}


def test_no_vote_count_is_promised_for_a_model_estimated_beyond_the_margin():
    plan = noninferiority_votes_needed(-60.0, 20.0, 50.0, 400, candidates=2)
    assert plan["additional_votes"] is None
    assert "margin or more" in plan["message"]
    near = noninferiority_votes_needed(-45.0, 20.0, 50.0, 400, candidates=2)
    assert near["additional_votes"] is None and "within one standard error" in near["message"]


def test_routing_quality_by_hand():
    # billing (3000/month) routed to its best: q = 0.5 exactly; technical (1000/month) to a
    # model 70.44 Elo below its best: q = 0.4. Q = 0.75 x 0.5 + 0.25 x 0.4 = 0.475.
    # se: 0.25 x 0.4 x 0.6 / (400 / ln 10) x 30 = 0.25 x 0.24 / 173.718 x 30 = 0.010362
    result = routing_quality(
        np.array([3000, 1000]), np.array([0.0, -70.4365036]), np.array([0.0, 30.0])
    )
    assert result["quality"] == pytest.approx(0.475, abs=1e-9)
    assert result["se"] == pytest.approx(0.010362, abs=1e-6)
    assert result["ci_low"] == pytest.approx(0.475 - 1.959964 * 0.010362, abs=1e-5)
    assert result["ci_high"] == pytest.approx(0.475 + 1.959964 * 0.010362, abs=1e-5)


def test_routing_quality_without_volume_or_standard_error_is_undefined_with_a_reason():
    assert (
        "no category" in routing_quality(np.array([0]), np.array([0.0]), np.array([0.0]))["message"]
    )
    result = routing_quality(np.array([1]), np.array([-5.0]), np.array([math.nan]))
    assert result["quality"] is None and "standard error" in result["message"]
