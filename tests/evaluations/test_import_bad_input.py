"""Bad input that used to get through the prompt and output imports (issue 22, items 9 and 10)."""

import json
import math

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from evaluations.models import Candidate, Output, Prompt
from evaluations.studies.import_rows import ImportFailed
from evaluations.studies.importing import outputs_import, prompts_import
from tests.factories import CandidateFactory, OutputFactory, PromptFactory

pytestmark = pytest.mark.django_db

OUTPUT_HEADER = b"prompt_id,model,output,latency_ms,ttft_ms,input_tokens,output_tokens,cost_usd\n"


@pytest.fixture
def prompt(study):
    return PromptFactory(study=study, external_id="q1")


def _refused(study, data: bytes, filename: str = "o.csv") -> list[str]:
    with pytest.raises(ImportFailed) as failure:
        outputs_import(study=study, data=data, filename=filename)
    assert not Output.objects.filter(prompt__study=study).exists()
    return failure.value.errors


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (b"q1,m/x,hi,1e400,,,,", "line 2: latency_ms must be at most 604,800,000"),
        (b"q1,m/x,hi,,inf,,,", "line 2: ttft_ms must be a finite number"),
        (b"q1,m/x,hi,NaN,,,,", "line 2: latency_ms must be a finite number"),
        (b"q1,m/x,hi,sNaN,,,,", "line 2: latency_ms must be a finite number"),
        (b"q1,m/x,hi,,,,,nan", "line 2: cost_usd must be a finite number"),
        (b"q1,m/x,hi,1e12,,,,", "line 2: latency_ms must be at most"),
        (b"q1,m/x,hi,,,2147483648,,", "line 2: input_tokens must be at most 2,147,483,647"),
        (b"q1,m/x,hi,,,,99999999999999999999,", "line 2: output_tokens must be at most"),
        (b"q1,m/x,hi,,,,,999999.999999999", "line 2: cost_usd must be below 1,000,000"),
        (b"q1,m/x,hi,,,,,1e30", "line 2: cost_usd must be below 1,000,000"),
    ],
)
def test_non_finite_and_out_of_range_numbers_are_refused_with_the_line(study, prompt, row, message):
    errors = _refused(study, OUTPUT_HEADER + row + b"\n")
    assert any(e.startswith(message) for e in errors), errors


@pytest.mark.parametrize(
    "value", ["1e400", "NaN", "Infinity", "-Infinity", "9" * 5000, "1e-400", "true"]
)
def test_jsonl_numbers_out_of_range_are_refused_not_a_traceback(study, prompt, value):
    line = f'{{"prompt_id": "q1", "model": "m/x", "output": "hi", "latency_ms": {value}}}'
    line2 = f'{{"prompt_id": "q1", "model": "m/y", "output": "hi", "input_tokens": {value}}}'
    data = (line + "\n" + line2 + "\n").encode()
    try:
        outputs_import(study=study, data=data, filename="o.jsonl")
    except ImportFailed as failure:
        assert all(e.startswith(("line 1:", "line 2:")) for e in failure.errors), failure.errors
        assert not Output.objects.filter(prompt__study=study).exists()
    else:
        latencies = Output.objects.filter(prompt__study=study).values_list("latency_ms", flat=True)
        assert all(v is None or math.isfinite(v) for v in latencies)


def test_stored_non_finite_metrics_never_break_the_api(study, staff_user):
    candidate = CandidateFactory(study=study, model="m/x")
    for i, (latency, ttft) in enumerate([(math.inf, math.nan), (-math.inf, 12.5), (300.0, None)]):
        OutputFactory(
            prompt=PromptFactory(study=study, external_id=f"p{i}"),
            candidate=candidate,
            status=Output.Status.DONE,
            latency_ms=latency,
            ttft_ms=ttft,
        )
    api = APIClient()
    api.force_authenticate(staff_user)

    def strict(constant):
        raise AssertionError(f"non-finite number {constant} in the JSON")

    base = f"/api/v1/studies/{study.pk}/"
    for url in ("candidates/", "outputs/", "outputs.jsonl"):
        response = api.get(base + url)
        assert response.status_code == 200, (url, response.status_code)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        for line in body.decode().splitlines() if url.endswith(".jsonl") else [body.decode()]:
            json.loads(line, parse_constant=strict)
    stats = api.get(base + "candidates/").json()[0]
    assert stats["latency_ms_median"] == 300.0
    assert stats["ttft_ms_median"] == 12.5


def test_unclosed_quote_is_refused_at_the_line_where_it_opened(study):
    data = b'id,text\nq1,fine\nq2,"never closed\nq3,swallowed\nq4,also swallowed\n'
    with pytest.raises(ImportFailed) as failure:
        prompts_import(study=study, data=data, filename="p.csv")
    assert failure.value.errors == ["line 3: a quote opened here is never closed"]
    assert not Prompt.objects.exists()


def test_unclosed_quote_in_a_later_field_of_a_multiline_record(study):
    data = b'id,text,context\nq1,"two\nlines","open\nq2,x,y\n'
    with pytest.raises(ImportFailed) as failure:
        prompts_import(study=study, data=data, filename="p.csv")
    assert failure.value.errors == ["line 3: a quote opened here is never closed"]


def test_a_field_over_the_csv_limit_is_reported_on_its_own_line(study):
    huge = b"x" * 200_000
    data = b'id,text\nq1,ok\nq2,"start\nmore ' + huge + b'"\nq3,fine\n'
    with pytest.raises(ImportFailed) as failure:
        prompts_import(study=study, data=data, filename="p.csv")
    assert len(failure.value.errors) == 1
    assert failure.value.errors[0].startswith("line 3: a field longer than 131,072 characters")
    assert not Prompt.objects.exists()


def test_jsonl_line_numbers_count_only_newlines(study):
    # U+2028 inside a JSON string is valid JSON, and not a line break for the file.
    data = '{"id": "a", "text": "one\u2028two"}\n{"id": "b", "text": ""}\n'.encode()
    with pytest.raises(ImportFailed) as failure:
        prompts_import(study=study, data=data, filename="p.jsonl")
    assert failure.value.errors == ["line 2: empty text"]


def test_oversized_file_reports_its_real_size_in_the_command(study, tmp_path, settings):
    settings.MAX_IMPORT_BYTES = 1000
    big = tmp_path / "big.csv"
    big.write_bytes(b"id,text\n" + b"q,x\n" * 1000)  # 4,008 bytes
    for command in ("import_prompts", "import_outputs"):
        with pytest.raises(CommandError) as failure:
            call_command(command, study.slug, str(big))
        assert "the file is 4,008 bytes; the limit is 1,000 bytes" in str(failure.value)


def test_oversized_upload_reports_its_real_size_in_the_admin(client, staff_user, study, settings):
    settings.MAX_IMPORT_BYTES = 1000
    client.force_login(staff_user)
    upload = SimpleUploadedFile("p.csv", b"id,text\n" + b"q,x\n" * 1000, content_type="text/csv")
    url = reverse("admin:evaluations_study_import_prompts", args=[study.pk])
    response = client.post(url, {"file": upload})
    assert response.status_code == 200
    assert "the file is 4,008 bytes; the limit is 1,000 bytes" in response.content.decode()
    assert not Prompt.objects.exists()


def test_size_message_for_a_60_megabyte_file(study):
    data = b"x" * 60_000_000
    with pytest.raises(
        ImportFailed,
        match=r"the file is 60.0 MB \(60,000,000 bytes\); the limit is 20.0 MB \(20,000,000 b",
    ):
        prompts_import(study=study, data=data, filename="p.csv")


# Bytes that look like CSV or JSONL often enough to reach the parsers' corners.
_fragments = st.sampled_from(
    [b"id", b"text", b"prompt_id", b"model", b"output", b"latency_ms", b"input_tokens",
     b"cost_usd", b",", b";", b"\t", b'"', b"'", b"\n", b"\r\n", b"\r", b"{", b"}", b":", b"[",
     b"1e400", b"NaN", b"-1", b"99999999999", b"q1", b"m/x", b"\xef\xbb\xbf", b"\xff", b"\x00",
     b"\xe2\x80\xa8", b"x" * 300, b" "]
)  # fmt: skip
_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(_fragments, max_size=40).map(b"".join),
    st.lists(
        st.fixed_dictionaries(
            {"prompt_id": st.sampled_from(["q1", "q2", ""]), "model": st.text(max_size=5)},
            optional={
                "id": st.one_of(st.text(max_size=5), st.integers()),
                "text": st.text(max_size=20),
                "output": st.text(max_size=20),
                "latency_ms": st.one_of(st.floats(), st.integers(), st.text(max_size=4)),
                "input_tokens": st.one_of(st.integers(), st.floats(), st.none()),
                "cost_usd": st.one_of(st.floats(), st.text(max_size=6)),
            },
        ),
        max_size=4,
    ).map(lambda rows: "\n".join(json.dumps(r) for r in rows).encode()),
)


def _assert_clean_outcome(study, importer, data: bytes, filename: str) -> None:
    before = (Prompt.objects.count(), Output.objects.count(), Candidate.objects.count())
    try:
        with transaction.atomic():
            created = importer(study=study, data=data, filename=filename)
            assert created > 0
            transaction.set_rollback(True)
    except ImportFailed as failure:
        assert failure.errors
        for error in failure.errors:
            assert error.startswith("line "), error
            assert int(error[5:].split(":", 1)[0]) >= 1, error
        assert (Prompt.objects.count(), Output.objects.count(), Candidate.objects.count()) == before


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_bytes, filename=st.sampled_from(["f.csv", "f.jsonl", "f.txt", "f"]))
def test_any_bytes_as_prompts_import_cleanly_or_fail_with_line_numbers(study, data, filename):
    _assert_clean_outcome(study, prompts_import, data, filename)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_bytes, filename=st.sampled_from(["f.csv", "f.jsonl", "f"]))
def test_any_bytes_as_outputs_import_cleanly_or_fail_with_line_numbers(study, data, filename):
    Prompt.objects.get_or_create(study=study, external_id="q1", defaults={"text": "Q?"})
    _assert_clean_outcome(study, outputs_import, data, filename)


@pytest.mark.parametrize(
    "line",
    [
        '{"id": "p1", "text": "a\\u0000b"}',
        '{"id": "p1", "text": "fine", "category": "x\\u0000"}',
        '{"id": "p1", "text": "fine", "reference": {"k": ["\\u0000"]}}',
    ],
)
def test_a_json_escaped_nul_is_refused_with_its_line_not_a_database_error(study, line):
    """PostgreSQL text cannot hold NUL; hypothesis found `DataError: PostgreSQL text fields
    cannot contain NUL (0x00) bytes` from a JSONL import that spelled it `\\u0000`."""
    data = ('{"id": "p0", "text": "first"}\n' + line + "\n").encode()
    with pytest.raises(ImportFailed) as refused:
        prompts_import(study=study, data=data, filename="p.jsonl")
    assert any(e.startswith("line 2:") and "NUL" in e for e in refused.value.errors)
    assert not Prompt.objects.filter(study=study).exists()
