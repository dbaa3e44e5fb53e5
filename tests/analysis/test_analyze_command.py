"""`manage.py analyze` on awkward files: a clear error or a document, never a traceback."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

HEADER = "model_a,model_b,winner\n"
ROWS = "a,b,model_a\nb,a,model_a\na,b,tie\n"


def run(*args: str) -> dict:
    out = io.StringIO()
    call_command("analyze", *args, stdout=out)
    return json.loads(out.getvalue())


def test_a_directory_is_refused_with_a_message(tmp_path):
    with pytest.raises(CommandError, match="is a directory"):
        run(str(tmp_path))


def test_a_field_over_the_limit_is_refused_with_its_line(tmp_path):
    path = tmp_path / "votes.csv"
    big = "a,b,tie," + "x" * 1_100_000 + "\n"
    path.write_text("model_a,model_b,winner,rationale\n" + "a,b,tie,r\n" * 4 + big)
    with pytest.raises(CommandError, match="line 6: .*field larger than") as error:
        run(str(path))
    assert len(str(error.value)) < 300


def test_a_field_over_128_kb_is_read(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("model_a,model_b,winner,rationale\n" + f"a,b,model_a,{'y' * 200_000}\n")
    assert run(str(path))["summary"]["votes"] == 1


def test_a_csv_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + ROWS).encode())
    assert run(str(path))["summary"]["votes"] == 3


def test_a_jsonl_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "votes.jsonl"
    line = json.dumps({"model_a": "a", "model_b": "b", "winner": "model_a"})
    path.write_bytes(b"\xef\xbb\xbf" + (line + "\n" + line + "\n").encode())
    assert run(str(path))["summary"]["votes"] == 2


def test_a_huge_bootstrap_is_refused_with_the_cap(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text(HEADER + ROWS)
    with pytest.raises(CommandError, match="at most 100000"):
        run(str(path), "--bootstrap", "1000000000")
