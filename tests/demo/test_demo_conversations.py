"""The demo `make run` sets up holds a scripted multi-turn prompt and an image prompt, answered
by the offline demo provider through LiteLLM as any study's are."""

import pytest

from evaluations.models import Output, Prompt, PromptMedia, Study
from evaluations.providers.demo_provider import demo_answer
from tests.demo.conftest import demo_generated

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_scripted_multi_turn_prompt_and_an_image_prompt_with_its_chart():
    study = demo_generated()
    multi = Prompt.objects.get(study=study, external_id="multi-turn-1")
    assert len(multi.turns) == 3 and multi.messages[0]["role"] == "system"
    image = Prompt.objects.get(study=study, external_id="image-1")
    (part,) = [p for p in image.messages[-1]["content"] if p["type"] == "image"]
    media = PromptMedia.objects.get(study=study, sha256=part["media"])
    assert media.content_type == "image/png"
    with media.file.open("rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_every_demo_output_is_generated_and_the_study_opens_with_both_kinds_of_pair():
    study = demo_generated()
    outputs = Output.objects.filter(prompt__study=study)
    assert outputs.count() == 3 * 12
    assert set(outputs.values_list("status", flat=True)) == {Output.Status.DONE}
    assert study.status == Study.Status.OPEN
    for external_id in ("multi-turn-1", "image-1"):
        assert study.pairs.filter(prompt__external_id=external_id).count() == 3


def test_each_demo_model_answers_follow_ups_from_its_own_earlier_answer():
    study = demo_generated()
    outputs = list(Output.objects.filter(prompt__study=study, prompt__external_id="multi-turn-1"))
    assert len(outputs) == 3
    firsts = {o.pk: " ".join(o.turns[0]["raw_text"].split()[:5]) for o in outputs}
    for output in outputs:
        assert [t["text"] != "" for t in output.turns] == [True, True, True]
        for turn in output.turns[1:]:
            assert "turn" in turn["raw_text"].lower() or "before" in turn["raw_text"]
        second = output.turns[1]["raw_text"]
        assert firsts[output.pk] in second
        for other, first in firsts.items():
            if other != output.pk and first != firsts[output.pk]:
                assert first not in second
        # Turn by turn, each with its own measurements, as a real model's.
        assert all(t["latency_ms"] and t["output_tokens"] for t in output.turns)


def test_the_demo_models_describe_the_chart_they_were_sent():
    study = demo_generated()
    outputs = Output.objects.filter(prompt__study=study, prompt__external_id="image-1")
    assert outputs.count() == 3
    for output in outputs:
        assert "480x300 pixels" in output.text
        assert "blue and orange" in output.text
        # 85 tokens for the image, not the length of its base64.
        assert 85 < output.input_tokens < 200


def test_a_single_text_question_gets_the_answer_it_always_had():
    # The batch demo and earlier demo studies rely on the single-turn answer not changing.
    answer = demo_answer("demo/concise", [{"role": "user", "content": "Why?"}])
    assert answer == demo_answer("demo/concise", [{"role": "user", "content": [
        {"type": "text", "text": "Why?"}]}])  # fmt: skip
    assert answer.startswith(("In short:", "Briefly:", "Short answer:"))
