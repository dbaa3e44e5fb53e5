"""manage.py analyze --cluster, --power and --style-feature."""

import io
import json

import pytest
from django.core.management import CommandError, call_command


def _write(tmp_path, rows: list[str]) -> str:
    path = tmp_path / "votes.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.fixture
def votes_file(tmp_path) -> str:
    rows = ["model_a,model_b,winner,judge,question_id,length_a,length_b,emoji_a,emoji_b"]
    for k in range(60):
        winner = "model_a" if k % 3 else "model_b"
        rows.append(f"x,y,{winner},r{k % 4},q{k % 6},{100 + k},{120 + k % 7},{k % 3},{k % 2}")
        rows.append(f"y,z,{winner},r{(k + 1) % 4},q{k % 6},{90 + k % 5},{80 + k},{k % 4},0")
    return _write(tmp_path, rows)


def _analyze(path: str, *args: str) -> dict:
    out = io.StringIO()
    call_command("analyze", path, *args, stdout=out)
    return json.loads(out.getvalue())


def test_cluster_power_and_style_feature_options(votes_file) -> None:
    default = _analyze(votes_file)
    assert default["interval"]["cluster"] == "both"
    assert _analyze(votes_file, "--cluster", "rater")["interval"]["cluster"] == "rater"
    none = _analyze(votes_file, "--cluster", "none", "--power", "0.9")
    assert none["interval"]["method"] == "sandwich"
    assert all(entry["power"] == 0.9 for entry in none["votes_needed"])
    styled = _analyze(votes_file, "--style-feature", "emoji")
    assert "emoji" in styled["style_control"]["features"]


def test_bad_power_and_unknown_style_feature_are_clear_errors(votes_file) -> None:
    with pytest.raises(CommandError, match="--power"):
        _analyze(votes_file, "--power", "80")
    with pytest.raises(CommandError, match="sparkle"):
        _analyze(votes_file, "--style-feature", "sparkle")
