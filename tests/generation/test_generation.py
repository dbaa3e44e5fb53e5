from decimal import Decimal

import pytest

from evaluations.generation import (
    GenerationError,
    generation_progress,
    generation_start,
    outputs_create,
    outputs_generate,
)
from evaluations.models import Output, Study
from tests.factories import CandidateFactory, PromptFactory, StudyFactory

pytestmark = pytest.mark.django_db


def generate_all(study) -> None:
    outputs_create(study=study)
    ids = list(Output.objects.filter(prompt__study=study).values_list("id", flat=True))
    outputs_generate(output_ids=ids)


def test_every_candidate_answers_every_prompt_with_measurements(study, prompts, stub_candidate, openai_stub):
    stub_candidate(study, "alpha", input_price_per_mtok=Decimal(2), output_price_per_mtok=Decimal(10))
    stub_candidate(study, "beta", input_price_per_mtok=Decimal(1), output_price_per_mtok=Decimal(1))
    generate_all(study)
    outputs = list(Output.objects.filter(prompt__study=study))
    assert len(outputs) == 6
    assert {o.status for o in outputs} == {Output.Status.DONE}
    for output in outputs:
        assert output.raw_text.startswith(f"Answer from {output.candidate.model.split('/')[1]}")
        assert output.attempts == 1
        assert output.latency_ms > 0
        assert 0 < output.ttft_ms <= output.latency_ms
        assert output.input_tokens == 2 and output.output_tokens == len(output.raw_text.split())
        price_in, price_out = output.candidate.input_price_per_mtok, output.candidate.output_price_per_mtok
        expected = (2 * price_in + output.output_tokens * price_out) / Decimal(1_000_000)
        assert output.cost_usd == expected.quantize(Decimal("1e-8"))
        assert output.deployment == openai_stub.base_url
    assert all(r.stream for r in openai_stub.requests)
    assert len(openai_stub.requests) == 6
