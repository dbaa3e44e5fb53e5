import json
from decimal import Decimal

import pytest

from evaluations.models import Candidate, Output
from evaluations.studies.import_rows import ImportFailed
from evaluations.studies.importing import outputs_import
from tests.factories import CandidateFactory, OutputFactory, PromptFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_prompts(study):
    return [PromptFactory(study=study, external_id=f"q{i}") for i in (1, 2)]


def test_csv_outputs_create_candidates_by_model_with_metrics(study, two_prompts):
    existing = CandidateFactory(study=study, label="Ours", model="openai/gpt-4o")
    data = (
        b"prompt_id,model,output,latency_ms,input_tokens,output_tokens,cost_usd\n"
        b"q1,openai/gpt-4o,Hello there,812.5,12,40,0.00031\n"
        b'q2,anthropic/claude-x,"I\'m Claude, and here is, a comma",,,,\n'
    )
    assert outputs_import(study=study, data=data, filename="out.csv") == 2
    matched = Output.objects.get(candidate=existing)
    assert (matched.latency_ms, matched.input_tokens, matched.output_tokens) == (812.5, 12, 40)
    assert matched.cost_usd == Decimal("0.00031")
    assert matched.imported and matched.status == Output.Status.DONE
    created = Candidate.objects.get(study=study, model="anthropic/claude-x")
    assert created.label == "anthropic/claude-x"
    leaked = Output.objects.get(candidate=created)
    assert leaked.identity_leak
    assert leaked.raw_text.startswith("I'm Claude")
    assert leaked.text.startswith("I'm [model]")


def test_jsonl_outputs_fill_a_pending_output_generation_created(study, two_prompts):
    candidate = CandidateFactory(study=study, model="openai/gpt-4o")
    OutputFactory(prompt=two_prompts[0], candidate=candidate, status=Output.Status.FAILED, text="")
    lines = [{"prompt_id": "q1", "model": "openai/gpt-4o", "output": "Done now", "latency_ms": 5}]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    assert outputs_import(study=study, data=data, filename="o.jsonl") == 1
    output = Output.objects.get(candidate=candidate)
    assert output.status == Output.Status.DONE and output.raw_text == "Done now"


def test_a_file_with_any_error_imports_nothing_and_names_every_line(study, two_prompts):
    OutputFactory(prompt=two_prompts[1], candidate=CandidateFactory(study=study, model="m/done"))
    data = (
        b"prompt_id,model,output,latency_ms,output_tokens\n"
        b"q1,m/new,fine,,\n"
        b"nope,m/new,unknown prompt,,\n"
        b"q1,m/new,second for the same pair,,\n"
        b"q1,m/other,,,\n"
        b"q2,m/done,already finished,,\n"
        b"q1,m/third,bad numbers,fast,-3\n"
    )
    with pytest.raises(ImportFailed) as failure:
        outputs_import(study=study, data=data, filename="x.csv")
    errors = failure.value.errors
    assert any(e.startswith("line 3: no prompt with id 'nope'") for e in errors)
    assert any(e.startswith("line 4: a second output") and "line 2" in e for e in errors)
    assert any(e.startswith("line 5: empty output") for e in errors)
    assert any(e.startswith("line 6: prompt 'q2' already has a finished output") for e in errors)
    assert any(e.startswith("line 7: latency_ms must be a number") for e in errors)
    assert any(e.startswith("line 7: output_tokens must be") for e in errors)
    assert not Candidate.objects.filter(study=study, model__in=["m/new", "m/third"]).exists()
    assert Output.objects.filter(prompt__study=study).count() == 1


def test_a_file_without_the_required_columns_is_refused(study, two_prompts):
    with pytest.raises(ImportFailed, match="missing column"):
        outputs_import(study=study, data=b"prompt,answer\nq1,hi\n", filename="x.csv")


def test_import_outputs_command_imports_and_reports_line_errors(study, two_prompts, tmp_path):
    from django.core.management import CommandError, call_command

    good = tmp_path / "out.jsonl"
    good.write_text(json.dumps({"prompt_id": "q1", "model": "openai/m", "output": "Hi"}) + "\n")
    call_command("import_outputs", study.slug, str(good), stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Output.objects.filter(prompt__study=study).count() == 1
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"prompt_id,model,output\nq2,openai/m,ok\nnope,openai/m,ok\n")
    with pytest.raises(CommandError, match="line 3"):
        call_command("import_outputs", study.slug, str(bad))
    assert Output.objects.filter(prompt__study=study).count() == 1
