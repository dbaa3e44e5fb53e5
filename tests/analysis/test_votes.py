import json
from pathlib import Path

import numpy as np
import pytest

from evaluations.analysis import (
    A_WINS,
    B_WINS,
    BOTH_BAD,
    TIE,
    VoteArrays,
    VoteDataError,
    pair_counts,
    votes_read,
)


def test_battle_format_and_short_winner_spellings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "votes.jsonl"
    rows = [
        {"model_a": "x", "model_b": "y", "winner": "model_a", "judge": "j1", "question_id": 1},
        {
            "model_a": "y",
            "model_b": "x",
            "winner": "tie (bothbad)",
            "judge": "j2",
            "question_id": 1,
            "turn": 2,
        },
        {"model_a": "x", "model_b": "z", "winner": "b", "judge": "j1", "question_id": 2},
        {"model_a": "z", "model_b": "y", "winner": "tie", "judge": "j1", "question_id": 3},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    votes = votes_read(path)
    assert votes.models == ["x", "y", "z"]
    assert votes.outcome.tolist() == [A_WINS, BOTH_BAD, B_WINS, TIE]
    assert votes.items == ["1", "1/2", "2", "3"]
    assert votes.raters == ["j1", "j2"]


def test_csv_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "votes.csv"
    path.write_text("model_a,model_b,winner\nx,y,model_a\nx,y,model_a\nx,x,tie\n")
    with pytest.raises(VoteDataError, match="line 4: model_a and model_b are both 'x'"):
        votes_read(path)


def test_jsonl_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "votes.jsonl"
    path.write_text('{"model_a": "x", "model_b": "y", "winner": "a"}\n{"model_a": "x",\n')
    with pytest.raises(VoteDataError, match="line 2: not valid JSON"):
        votes_read(path)


def test_csv_without_winner_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "votes.csv"
    path.write_text("model_a,model_b,result\nx,y,1\n")
    with pytest.raises(VoteDataError, match="line 1: CSV header lacks winner"):
        votes_read(path)


def test_pair_counts_fold_both_orientations() -> None:
    a = np.array([0, 1, 1, 0, 2])
    b = np.array([1, 0, 0, 1, 0])
    outcome = np.array([A_WINS, A_WINS, TIE, BOTH_BAD, B_WINS])
    counts = pair_counts(a, b, outcome, 3)
    assert counts.first.tolist() == [0, 0]
    assert counts.second.tolist() == [1, 2]
    # Pair (0, 1): 0 won once, 1 won once (as model_a), one tie, one both-bad.
    assert counts.counts[0].tolist() == [1, 1, 1, 1]
    # Pair (0, 2): model_b = 0 won.
    assert counts.first[1] == 0 and counts.second[1] == 2
    assert counts.counts[1].tolist() == [1, 0, 0, 0]


def test_rows_from_the_database_layer_use_the_short_keys() -> None:
    votes = VoteArrays.from_rows(
        [
            {
                "model_a": "x",
                "model_b": "y",
                "outcome": "a",
                "rater": 7,
                "item": 3,
                "left": "b",
                "length_a": 10,
                "length_b": 30,
                "gold": "model_a",
            },
        ]
    )
    assert votes.raters == ["7"] and votes.items == ["3"]
    assert votes.left_is_a.tolist() == [0]
    assert votes.length_b.tolist() == [30.0]
    assert votes.is_gold.tolist() == [True]
