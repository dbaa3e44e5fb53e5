"""Issue 16: rankings per turn (MT-Bench reports turn 1 and turn 2 separately) and overall.

Turn 1 is MT-Bench's published expert and author votes; turn 2 is simulated with the opposite
order of strengths, so a per-turn ranking that leaked the other turn's votes would show it.
"""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import choix
import numpy as np
import pytest

from evaluations.analysis import analyze, votes_read

REPO = Path(__file__).resolve().parents[2]
MODELS = ["alpha", "beta", "gamma", "delta"]


def _command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "analyze", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def _turn1_rows(refdata: Path) -> list[dict]:
    path = refdata / "mtbench_human_turn1" / "human_judgments.jsonl"
    return [{**json.loads(line), "turn": 1} for line in path.read_text().splitlines() if line]


def _turn2_rows(turn1: list[dict]) -> list[dict]:
    """The same battles with every decisive winner flipped: turn 2's order is turn 1's reversed."""
    flip = {"model_a": "model_b", "model_b": "model_a"}
    return [{**row, "turn": 2, "winner": flip.get(row["winner"], row["winner"])} for row in turn1]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.refdata
def test_each_turn_is_ranked_on_its_own_votes_and_overall_on_all(refdata, tmp_path):
    turn1 = _turn1_rows(refdata)
    rows = turn1 + _turn2_rows(turn1)
    document = analyze(votes_read(str(_write_jsonl(tmp_path / "both.jsonl", rows))))
    assert list(document["turns"]) == ["1", "2"]
    assert document["summary"]["votes"] == len(rows)
    alone = analyze(votes_read(str(_write_jsonl(tmp_path / "t1.jsonl", turn1))))
    per_turn = {m["model"]: m["rating"] for m in document["turns"]["1"]["models"]}
    for model in alone["models"]:
        assert per_turn[model["model"]] == pytest.approx(model["rating"], abs=1e-6)
    first = [m["model"] for m in document["turns"]["1"]["models"]]
    second = [m["model"] for m in document["turns"]["2"]["models"]]
    assert first[0] == "gpt-4" and second[-1] == "gpt-4"
    assert document["turns"]["1"]["votes"] == len(turn1)
    # Overall, every flipped battle cancels its original: the models are nearly equal.
    spread = [m["rating"] for m in document["models"]]
    assert max(spread) - min(spread) < 1.0


@pytest.mark.refdata
def test_a_turn_ranking_matches_choix_maximum_likelihood(refdata, tmp_path):
    decisive = [r for r in _turn1_rows(refdata) if r["winner"] in ("model_a", "model_b")]
    rows = decisive + _turn2_rows(decisive)
    document = analyze(
        votes_read(str(_write_jsonl(tmp_path / "v.jsonl", rows))), cluster="none", turn=1
    )
    assert document["summary"]["turn"] == "1"
    models = sorted({r["model_a"] for r in decisive} | {r["model_b"] for r in decisive})
    index = {m: k for k, m in enumerate(models)}
    data = [
        (index[r["model_a"]], index[r["model_b"]])
        if r["winner"] == "model_a"
        else (index[r["model_b"]], index[r["model_a"]])
        for r in decisive
    ]
    theta = choix.opt_pairwise(len(models), data, alpha=0.0)
    expected = 1000 + 400 / math.log(10) * (theta - theta.mean())
    ours = {m["model"]: m["rating"] for m in document["models"]}
    for model, rating in zip(models, expected, strict=True):
        assert ours[model] == pytest.approx(rating, abs=0.05)


def test_the_command_ranks_one_turn_and_names_the_turns_it_has(tmp_path):
    rng = np.random.default_rng(3)
    rows = []
    for turn, strength in ((1, [2.0, 1.0, 0.0, -1.0]), (2, [-1.0, 0.0, 1.0, 2.0])):
        for k in range(400):
            i, j = rng.choice(4, size=2, replace=False)
            p = 1 / (1 + math.exp(strength[j] - strength[i]))
            winner = "model_a" if rng.random() < p else "model_b"
            rows.append(
                {
                    "model_a": MODELS[i],
                    "model_b": MODELS[j],
                    "winner": winner,
                    "judge": f"r{k % 9}",
                    "question_id": f"q{k % 20}",
                    "turn": turn,
                }
            )
    path = tmp_path / "votes.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = _command(str(path), "--turn", "2")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["votes"] == 400
    assert [m["model"] for m in document["models"]] == ["delta", "gamma", "beta", "alpha"]
    assert "turns" not in document
    everything = json.loads(_command(str(path)).stdout)
    assert [m["model"] for m in everything["turns"]["1"]["models"]] == MODELS
    # The CSV (columnar) reader and the JSONL (row) reader agree on the per-turn blocks.
    jsonl = analyze(votes_read(str(_write_jsonl(tmp_path / "votes.jsonl", rows))))
    assert jsonl["turns"] == everything["turns"]
    refused = _command(str(path), "--turn", "5")
    assert refused.returncode != 0
    assert "turn '5' not in the votes (turns: 1, 2)" in refused.stderr
