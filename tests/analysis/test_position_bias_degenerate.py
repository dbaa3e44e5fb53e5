"""Position bias on votes that cannot separate the side from the models (found by the admin
authorization matrix: a study's results page with a single vote answered 500)."""

import json

from evaluations.analysis import VoteArrays, analyze


def test_a_single_vote_with_its_side_gives_a_message_not_an_exception() -> None:
    votes = VoteArrays.from_rows(
        [{"model_a": "x", "model_b": "y", "winner": "model_a", "left": "a"}]
    )
    position = analyze(votes)["bias"]["position"]
    assert "left_advantage_elo" not in position
    assert "cannot be told apart" in position["message"]
    json.dumps(position, allow_nan=False)


def test_one_pair_always_shown_the_same_way_round_gives_a_message() -> None:
    rows = [
        {"model_a": "x", "model_b": "y", "winner": w, "left": "a"}
        for w in ["model_a"] * 3 + ["model_b"]
    ]
    position = analyze(VoteArrays.from_rows(rows))["bias"]["position"]
    assert position["decisive_votes"] == 4
    assert "left_advantage_elo" not in position
