"""The columnar CSV reader gives what the row reader gives, or leaves the file to it."""

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evaluations.analysis import VoteArrays, VoteDataError, votes_read
from evaluations.analysis.votes import votes_read_rows
from evaluations.analysis.votes_columnar import votes_read_columnar

COLUMNS = [
    "model_a",
    "model_b",
    "winner",
    "judge",
    "rater",
    "question_id",
    "item",
    "turn",
    "category",
    "left",
    "length_a",
    "length_b",
    "gold",
    "headers_a",
    "bold_b",
    "emoji_a",
    "emoji_b",
    "rationale",
]
# Values each column might hold: good ones, and every kind the row reader refuses.
VALUES = st.sampled_from(
    [
        "x",
        "y",
        " x",
        "y ",
        "z",
        "",
        " ",
        "model_a",
        "model_b",
        "a",
        "B",
        "tie",
        "tie (bothbad)",
        "both_bad",
        "maybe",
        "1",
        "2",
        "0",
        "1.5",
        "-1",
        "nan",
        "inf",
        "1e3",
        " 7 ",
        "'=1",
        "'-2",
        "'x",
        "''a",
        "=SUM(A1)",
        'say "hi"',
        "a,b",
        "two\nlines",
        "é",
        "q/1",
    ]
)


MODELS = ["x", "y", " x", "y ", "z", "é", 'say "hi"', "a,b", "two\nlines", "'=1", "''a"]
NUMBERS = ["", "0", "1", "2", "1.5", " 7 ", "1e3", "12"]
NAMES = ["", "r1", "r2", "q/1", "'-2", "a,b", "two\nlines", " 3", "é"]
GOOD = {
    "winner": ["model_a", "model_b", "a", "B", "tie", "tie (bothbad)", "both_bad", " Tie "],
    "left": ["", "a", "b", " A", "model_b"],
    "gold": ["", "model_a", "tie"],
    "turn": ["", "1", "2"],
}


@st.composite
def cell(draw: st.DrawFn, column: str) -> str:
    if draw(st.integers(0, 29)) == 0:
        return draw(VALUES)
    if column in GOOD:
        return draw(st.sampled_from(GOOD[column]))
    if column.startswith(("length", "headers", "bold", "emoji")):
        return draw(st.sampled_from(NUMBERS))
    return draw(st.sampled_from(NAMES))


@st.composite
def csv_row(draw: st.DrawFn, header: list[str]) -> list[str]:
    a, b = draw(st.lists(st.sampled_from(MODELS), min_size=2, max_size=2, unique=True))
    named = {"model_a": a, "model_b": b}
    return [named[c] if c in named else draw(cell(c)) for c in header]


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    required = ["model_a", "model_b", "winner"]
    extra = draw(st.lists(st.sampled_from(COLUMNS[3:]), unique=True, max_size=6))
    header = draw(st.permutations(required + extra))
    if draw(st.integers(0, 9)) == 0:
        header = [c for c in header if c != draw(st.sampled_from(required))]
    n_rows = draw(st.integers(0, 8))
    rows = []
    for _ in range(n_rows):
        row = draw(csv_row(header))
        if draw(st.integers(0, 19)) == 0:
            row = row[: draw(st.integers(0, len(row)))] + draw(st.lists(VALUES, max_size=2))
        rows.append(row)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    if draw(st.integers(0, 9)) == 0:
        # Hand-made damage: a stray quote, a blank line, a cut, spaces.
        cut = draw(st.integers(0, len(text)))
        text = (
            text[:cut]
            + draw(st.sampled_from(['"', "\n", "\n\n", " ", ",", 'x"y', '""']))
            + (text[cut:])
        )
    return text


def assert_same_votes(fast: VoteArrays, rows: VoteArrays) -> None:
    for name in VoteArrays.__dataclass_fields__:
        mine, theirs = getattr(fast, name), getattr(rows, name)
        if name == "features":
            assert list(mine) == list(theirs)
            for key in theirs:
                for f, r in zip(mine[key], theirs[key], strict=True):
                    assert np.array_equal(f, r, equal_nan=True), key
        elif isinstance(theirs, np.ndarray):
            assert mine is not None and mine.dtype == theirs.dtype, name
            assert np.array_equal(mine, theirs, equal_nan=True), name
        else:
            assert mine == theirs, name


def assert_equivalent(text: str, features: tuple[str, ...] = ()) -> VoteArrays | None:
    fast = votes_read_columnar(text, features=features)
    try:
        rows = votes_read_rows(text, features=features)
    except VoteDataError:
        assert fast is None, "the columnar reader accepted a file the row reader refuses"
        return None
    if fast is not None:
        assert_same_votes(fast, rows)
    return fast


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=csv_texts(), features=st.sampled_from([(), ("emoji",), ("length", "emoji")]))
@example(text="model_a,model_b,winner\nx,y,a\n\n\ny,x,tie\n", features=())
@example(text='model_a,model_b,winner\nx,"y\nz",a\n', features=())
@example(text="model_a,model_b,winner\nx, x ,a\n", features=())
@example(text="model_a,model_b,winner,turn,question_id\nx,y,a,1,q\ny,x,b,,q/1\n", features=())
@example(text='model_a,model_b,winner\nx,"y"z,a\n', features=())
def test_columnar_and_row_readers_agree_on_any_csv(text: str, features: tuple[str, ...]) -> None:
    if text.strip():
        assert_equivalent(text, features)


def test_an_ordinary_export_takes_the_columnar_path() -> None:
    text = (
        "model_a,model_b,winner,judge,question_id,turn,category,left,length_a,length_b,gold,"
        "headers_a,headers_b,rationale\n"
        'gpt-4 ,claude,model_a,r1,q1,1,"math, hard",a,10,20,,0,1,"said ""yes""\nthen no"\n'
        "claude,gpt-4,tie,r2,q1,2,chat,b,5,5,model_b,2,0,'=cmd\n"
        "gemini,claude,b,r1,q2,,chat,,,,,,,\n"
    )
    fast = assert_equivalent(text)
    assert fast is not None
    assert fast.models == ["gpt-4", "claude", "gemini"]
    assert fast.items == ["q1/1", "q1/2", "q2"] and fast.prompts == ["q1", "q2"]
    assert fast.categories == ["math, hard", "chat"]
    assert list(fast.features) == ["length", "headers"]


def test_an_ordinary_csv_file_is_read_without_the_row_reader(tmp_path: Path, monkeypatch) -> None:
    def row_by_row(*args, **kwargs):
        raise AssertionError("the row-by-row reader was used for a valid CSV file")

    monkeypatch.setattr(VoteArrays, "from_rows", classmethod(row_by_row))
    path = tmp_path / "votes.csv"
    path.write_text("model_a,model_b,winner\n" + "x,y,model_a\ny,z,tie\n" * 500)
    votes = votes_read(path)
    assert len(votes) == 1000 and votes.models == ["x", "y", "z"]


def test_a_bad_value_deep_in_a_large_file_is_reported_at_its_line(tmp_path: Path) -> None:
    lines = ["model_a,model_b,winner"] + [f"m{k % 7},m{k % 7 + 1},model_a" for k in range(30_000)]
    lines[25_000] = "m1,m2,maybe"
    path = tmp_path / "votes.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(VoteDataError, match=r"^line 25001: winner 'maybe' is not one of"):
        votes_read(path)


def test_a_short_row_deep_in_a_large_file_is_reported_at_its_line(tmp_path: Path) -> None:
    lines = ["model_a,model_b,winner,judge"] + [f"m{k % 7},m{k % 7 + 1},a,r" for k in range(30_000)]
    lines[20_000] = "m1,m2,a,r,extra"
    path = tmp_path / "votes.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(VoteDataError, match=r"^line 20001: more fields than the header"):
        votes_read(path)


def test_windows_line_endings_and_a_byte_order_mark_read_as_the_rows_do(tmp_path: Path) -> None:
    path = tmp_path / "votes.csv"
    text = 'model_a,model_b,winner,rationale\r\nx,y,a,"one\r\ntwo"\r\ny,x,tie,\r\n'
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    votes = votes_read(path)
    assert_same_votes(votes, votes_read_rows(path.read_text(encoding="utf-8-sig")))
    assert votes.models == ["x", "y"] and len(votes) == 2
