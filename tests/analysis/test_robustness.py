"""Degenerate and small data: every quantity is estimated or reported as not estimable, never a
crash, a zero-width interval from too little data, or a number on an arbitrary scale."""

import itertools
import json
import math
import random

import numpy as np
import pytest
from scipy import stats
from scipy.special import logit

from evaluations.analysis import ELO_SCALE, VoteArrays, analyze

Z95 = float(stats.norm.ppf(0.975))


def votes_of(triples, **extra):
    rows = []
    for k, (a, b, winner) in enumerate(triples):
        row = {"model_a": a, "model_b": b, "winner": winner}
        for key, values in extra.items():
            row[key] = values[k % len(values)]
        rows.append(row)
    return VoteArrays.from_rows(rows)


def finite_json(document) -> str:
    return json.dumps(document, allow_nan=False)


def test_a_decisive_study_with_equal_lengths_gets_its_bias_block_not_a_crash():
    triples = [("strong", "weak", "model_a"), ("weak", "strong", "model_b")] * 6
    votes = votes_of(
        triples,
        judge=["r1", "r2"],
        question_id=["1", "2", "3"],
        left=["a", "b"],
        length_a=[100, 101],
        length_b=[101, 100],
    )
    document = analyze(votes)
    finite_json(document)
    length = document["bias"]["length"]["length_controlled"]
    assert "prior" in length["method"]
    assert [row["model"] for row in length["models"]] == ["strong", "weak"]
    # The stronger model is on the left in every vote: the side cannot be told apart from it.
    position = document["bias"]["position"]
    assert "left_advantage_elo" not in position
    assert "cannot be told apart" in position["message"]


def test_length_bias_on_a_disconnected_study_is_estimated_per_piece_or_explained():
    triples = [
        ("a", "b", "model_a"),
        ("b", "a", "model_a"),
        ("c", "d", "model_b"),
        ("d", "c", "model_b"),
    ] * 3
    votes = votes_of(triples, length_a=[10, 30, 50], length_b=[20, 25, 60], left=["a", "b"])
    document = analyze(votes)
    finite_json(document)
    assert "models" in document["bias"]["length"]["length_controlled"]


def test_davidson_when_every_vote_is_a_tie_falls_back_with_a_reason():
    votes = votes_of([("m0", "m3", "tie"), ("m0", "m4", "tie")])
    document = analyze(votes, ties="davidson")
    finite_json(document)
    assert any("every vote" in w and "tie" in w for w in document["warnings"])


def test_davidson_with_one_decisive_vote_among_ties_is_fitted_or_explained():
    votes = votes_of(
        [
            ("m0", "m1", "model_b"),
            ("m1", "m0", "tie"),
            ("m1", "m0", "tie (bothbad)"),
            ("m0", "m1", "tie"),
        ]
    )
    document = analyze(votes, ties="davidson")
    finite_json(document)
    assert len(document["models"]) == 2


def test_bootstrap_on_a_sparse_file_fits_every_resample_or_counts_it():
    votes = votes_of(
        [
            ("m3", "m2", "tie"),
            ("m0", "m1", "tie (bothbad)"),
            ("m1", "m2", "tie"),
            ("m1", "m4", "model_a"),
            ("m0", "m2", "model_b"),
            ("m0", "m1", "model_a"),
            ("m3", "m4", "tie"),
            ("m3", "m1", "model_a"),
            ("m0", "m4", "model_b"),
        ]
    )
    document = analyze(votes, bootstrap=200, seed=3)
    finite_json(document)
    resamples = document["interval"]["bootstrap_resamples"]
    assert resamples["requested"] == 200
    assert resamples["fitted"] + resamples["failed"] == 200
    assert resamples["fitted"] > 0


@pytest.mark.parametrize("seed", range(6))
def test_davidson_bootstrap_on_five_votes_stays_on_the_elo_scale(seed):
    votes = votes_of(
        [
            ("a", "b", "model_a"),
            ("b", "c", "tie"),
            ("a", "c", "model_a"),
            ("c", "b", "model_b"),
            ("a", "b", "tie"),
        ]
    )
    document = analyze(votes, ties="davidson", bootstrap=300, seed=seed)
    finite_json(document)
    for row in document["models"]:
        for bound in (row["ci_low"], row["ci_high"]):
            assert bound is None or abs(bound - 1000) < 3000
    assert document["interval"]["bootstrap_resamples"]["requested"] == 300
    assert any(
        row["ci_low"] is not None or row["ci_high"] is not None for row in document["models"]
    )


def test_a_single_tie_does_not_give_a_zero_width_interval():
    document = analyze(votes_of([("a", "b", "tie")]))
    for row in document["models"]:
        assert row["ci_high"] - row["ci_low"] > 100


def test_one_decisive_vote_under_bootstrap_does_not_give_a_zero_width_interval():
    document = analyze(votes_of([("a", "b", "model_a")]), bootstrap=200, seed=1)
    pair = document["pairwise"][0]
    assert pair["ci_high"] is not None and pair["ci_low"] is not None
    assert pair["ci_high"] - pair["ci_low"] > 0.1
    assert any("bootstrap" in w for w in document["warnings"])


def test_separated_two_model_intervals_are_the_centred_posterior_ones():
    # Two models: centred ratings are +-d/2, so each rating's se is half the difference's.
    document = analyze(votes_of([("a", "b", "model_a")] * 2))
    pair = document["pairwise"][0]
    if pair["model_a"] != "a":
        pytest.fail("expected a first")
    d = pair["rating_difference"]
    se_diff = (d - ELO_SCALE * logit(pair["ci_low"])) / Z95
    for row in document["models"]:
        assert row["se"] == pytest.approx(se_diff / 2, rel=1e-6)
    assert 150 < document["models"][0]["se"] < 180


def test_bootstrap_p_values_come_from_the_bootstrap():
    triples = [("a", "b", "model_a")] * 7 + [("a", "b", "model_b")] * 3
    document = analyze(votes_of(triples), bootstrap=500, seed=2)
    pair = document["pairwise"][0]
    se_model = document["models"][0]["se"]
    # Two centred models: the difference's bootstrap spread is twice each rating's.
    expected = 2 * stats.norm.sf(abs(pair["rating_difference"]) / (2 * se_model))
    assert pair["p_value"] == pytest.approx(expected, rel=1e-6)


def test_rank_ranges_do_not_depend_on_the_anchor():
    rng = random.Random(1)
    strength = {"a": 3.0, "b": 2.6, "c": 1.0, "d": 0.0}
    triples = []
    for _ in range(60):
        x, y = rng.sample(list(strength), 2)
        p = 1 / (1 + math.exp(-(strength[x] - strength[y]) / 1.5))
        triples.append((x, y, "model_a" if rng.random() < p else "model_b"))
    votes = votes_of(triples)

    def ranges(document):
        return {r["model"]: (r["rank_lower"], r["rank_upper"]) for r in document["models"]}

    plain = ranges(analyze(votes))
    for anchor in ("a=1000", "b=1200", "d=800"):
        assert ranges(analyze(votes, anchor=anchor)) == plain
    for anchor in ("a=1000", "d=800"):
        assert ranges(analyze(votes, anchor=anchor, bootstrap=200, seed=4)) == ranges(
            analyze(votes, bootstrap=200, seed=4)
        )


def test_undefined_p_values_come_with_a_warning():
    document = analyze(
        votes_of([("a", "b", "tie")] * 3 + [("c", "d", "model_a"), ("c", "d", "model_b")])
    )
    undefined = [p for p in document["pairwise"] if p["p_value"] is None]
    if undefined:
        assert any("p-value" in w for w in document["warnings"])


def test_model_names_are_trimmed():
    votes = votes_of([("gpt-4", "claude", "model_a"), ("gpt-4 ", "claude", "model_b")])
    assert votes.models == ["gpt-4", "claude"]


def test_row_order_does_not_change_the_document():
    triples = [
        ("z", "a", "model_a"),
        ("a", "m", "tie"),
        ("m", "z", "model_b"),
        ("a", "z", "model_a"),
        ("m", "a", "model_b"),
        ("z", "m", "model_a"),
    ] * 3
    kwargs = {"bootstrap": 100, "seed": 5}
    forward = analyze(votes_of(triples, category=["x", "y"]), **kwargs)
    backward = analyze(votes_of(triples[::-1], category=["y", "x"]), **kwargs)
    assert finite_json(forward) == finite_json(backward)


def test_bootstrap_above_the_cap_is_refused_with_the_cap():
    with pytest.raises(ValueError, match="100000"):
        analyze(votes_of([("a", "b", "model_a")]), bootstrap=1_000_000_000)


def test_win_probability_meaning_is_stated_for_each_tie_model():
    votes = votes_of(
        [("a", "b", "model_a"), ("a", "b", "tie"), ("a", "b", "model_b"), ("a", "b", "model_a")]
    )
    half = analyze(votes)
    davidson = analyze(votes, ties="davidson")
    assert "half" in half["interval"]["win_probability"]
    assert "not a tie" in davidson["interval"]["win_probability"]
    assert np.isfinite(davidson["pairwise"][0]["win_probability"])


def test_davidson_bootstrap_on_a_sparse_study_gives_no_wild_intervals():
    # 200 votes, 20 models, 30% of pairs, 20% ties: some resamples leave a model without votes.
    rng = random.Random(2)
    models = [f"m{k}" for k in range(20)]
    strength = {m: rng.gauss(0, 1) for m in models}
    pairs = [p for p in itertools.combinations(models, 2) if rng.random() < 0.3]
    triples = []
    for _ in range(200):
        a, b = rng.choice(pairs)
        p = 1 / (1 + math.exp(-(strength[a] - strength[b])))
        tie = rng.random() < 0.2
        triples.append((a, b, "tie" if tie else "model_a" if rng.random() < p else "model_b"))
    document = analyze(votes_of(triples), ties="davidson", bootstrap=200, seed=2)
    finite_json(document)
    widths = [
        row["ci_high"] - row["ci_low"]
        for row in document["models"]
        if row["ci_low"] is not None and row["ci_high"] is not None
    ]
    assert widths and max(widths) < 3000
    assert document["interval"]["bootstrap_resamples"]["failed"] == 0
