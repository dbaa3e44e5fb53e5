"""Generating answers to conversation prompts through LiteLLM against the OpenAI-speaking stub."""

import base64

import pytest

from evaluations.generation.errors import GenerationError
from evaluations.generation.runner import outputs_generate
from evaluations.generation.starting import generation_start, outputs_create
from evaluations.models import Candidate, Output
from evaluations.studies.importing import prompts_import
from tests.conversations.conftest import data_url, jsonl, png_bytes
from tests.factories import CandidateFactory
from tests.openai_stub import StubRequest, default_reply

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def generate_all(study) -> list[Output]:
    outputs_create(study=study)
    ids = list(Output.objects.filter(prompt__study=study).values_list("id", flat=True))
    outputs_generate(output_ids=ids)
    return list(Output.objects.filter(prompt__study=study))


def test_a_fixed_history_is_sent_whole_and_the_last_turn_answered(
    study, stub_candidate, openai_stub
):
    row = {
        "id": "h",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Capital of Italy?"},
            {"role": "assistant", "content": "Rome."},
            {"role": "user", "content": "And of France?"},
        ],
    }
    prompts_import(study=study, data=jsonl(row), filename="p.jsonl")
    stub_candidate(study, "alpha", system_prompt="You are evaluated.")
    outputs = generate_all(study)
    assert [o.status for o in outputs] == [Output.Status.DONE]
    (request,) = openai_stub.requests
    assert [m["role"] for m in request.messages] == ["system", "user", "assistant", "user"]
    assert request.messages[0]["content"] == "You are evaluated.\n\nBe terse."
    assert request.messages[2]["content"] == "Rome."
    assert request.messages[3]["content"] == [{"type": "text", "text": "And of France?"}]


def test_an_image_prompt_sends_the_image_part_as_a_data_url(study, stub_candidate, openai_stub):
    image = png_bytes("orange")
    row = {
        "id": "v",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What colour?"},
                    {"type": "image_url", "image_url": {"url": data_url(image)}},
                ],
            }
        ],
    }
    prompts_import(study=study, data=jsonl(row), filename="p.jsonl")
    stub_candidate(study, "alpha", accepts_images=Candidate.Images.YES)
    generation_start(study=study)  # the check passes; the worker is not needed here
    outputs = generate_all(study)
    assert [o.status for o in outputs] == [Output.Status.DONE]
    (request,) = openai_stub.requests
    parts = request.messages[-1]["content"]
    assert parts[0] == {"type": "text", "text": "What colour?"}
    assert parts[1]["type"] == "image_url"
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == image


def test_a_document_prompt_sends_the_pdf_as_a_file_part_and_text_as_text(
    study, stub_candidate, openai_stub
):
    row = {
        "id": "d",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Summarise."},
                    {
                        "type": "file",
                        "file": {
                            "filename": "c.pdf",
                            "file_data": data_url(PDF, "application/pdf"),
                        },
                    },
                    {
                        "type": "file",
                        "file": {
                            "filename": "n.txt",
                            "file_data": data_url(b"clause 7", "text/plain"),
                        },
                    },
                ],
            }
        ],
    }
    prompts_import(study=study, data=jsonl(row), filename="p.jsonl")
    stub_candidate(study, "alpha")
    assert [o.status for o in generate_all(study)] == [Output.Status.DONE]
    parts = openai_stub.requests[0].messages[-1]["content"]
    assert parts[1]["type"] == "file"
    assert parts[1]["file"]["filename"] == "c.pdf"
    assert base64.b64decode(parts[1]["file"]["file_data"].split(",", 1)[1]) == PDF
    assert parts[2] == {"type": "text", "text": "n.txt:\n\nclause 7"}


IMAGE_ROW = {
    "id": "v",
    "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}],
}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"model": "openai/gpt-3.5-turbo"},
            "Blind: LiteLLM knows openai/gpt-3.5-turbo as a model that does not accept images",
        ),
        ({"model": "openai/alpha", "accepts_images": "no"}, "Blind is set not to accept images"),
    ],
)
def test_a_candidate_that_cannot_take_images_is_refused_before_any_call(
    study, openai_stub, fields, reason
):
    row = {
        **IMAGE_ROW,
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": data_url(png_bytes())}]}
        ],
    }
    prompts_import(study=study, data=jsonl(row), filename="p.jsonl")
    CandidateFactory(
        study=study, label="Sighted", model="openai/gpt-4o", api_base=openai_stub.base_url
    )
    CandidateFactory(study=study, label="Blind", api_base=openai_stub.base_url, **fields)
    with pytest.raises(GenerationError, match="prompt\\(s\\) v hold images, but " + reason):
        generation_start(study=study)
    assert not Output.objects.exists()
    assert openai_stub.requests == []


def test_a_model_litellm_does_not_know_is_allowed_images_unless_the_researcher_says_no(
    study, openai_stub
):
    row = {
        **IMAGE_ROW,
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": data_url(png_bytes())}]}
        ],
    }
    prompts_import(study=study, data=jsonl(row), filename="p.jsonl")
    CandidateFactory(
        study=study,
        label="Endpoint",
        model="openai/my-endpoint-model",
        api_base=openai_stub.base_url,
    )
    CandidateFactory(
        study=study,
        label="Known",
        model="openai/gpt-3.5-turbo",
        accepts_images="yes",
        api_base=openai_stub.base_url,
    )
    from evaluations.generation.conversation_requests import study_conversations_check

    study_conversations_check(study=study, candidates=list(study.candidates.all()))


MT_ROW = {
    "id": "q81",
    "category": "writing",
    "system": "You write well.",
    "turns": ["Write a haiku about rain.", "Make it sadder.", "Now give it a title."],
}


def own_answers_only(violations: list[str]):
    """A reply that also checks, in the server, that every assistant message a candidate is
    sent is one of its own answers (the stub answers "Answer from <model>: ...")."""

    def reply(request: StubRequest) -> str:
        for message in request.messages:
            if message["role"] == "assistant" and not str(message["content"]).startswith(
                f"Answer from {request.model}:"
            ):
                violations.append(f"{request.model} was sent {message['content']!r}")
        return default_reply(request)

    return reply


def test_each_candidate_answers_scripted_turns_given_its_own_earlier_answers_only(
    study, stub_candidate, openai_stub, monkeypatch
):
    violations: list[str] = []
    monkeypatch.setattr(openai_stub, "reply", own_answers_only(violations))
    prompts_import(study=study, data=jsonl(MT_ROW), filename="mt.jsonl")
    alpha, beta = stub_candidate(study, "alpha"), stub_candidate(study, "beta")
    outputs = {o.candidate_id: o for o in generate_all(study)}
    assert {o.status for o in outputs.values()} == {Output.Status.DONE}
    assert violations == []
    for candidate, other in ((alpha, beta), (beta, alpha)):
        output = outputs[candidate.pk]
        requests = [r for r in openai_stub.requests if r.model == candidate.model.split("/")[1]]
        assert len(requests) == 3  # one per turn, in order
        assert [len(r.messages) for r in requests] == [2, 4, 6]
        second = requests[1].messages
        assert second[0] == {"role": "system", "content": "You write well."}
        assert second[1] == {"role": "user", "content": MT_ROW["turns"][0]}
        assert second[2] == {"role": "assistant", "content": output.turns[0]["raw_text"]}
        assert second[3] == {"role": "user", "content": MT_ROW["turns"][1]}
        other_first = outputs[other.pk].turns[0]["raw_text"]
        assert all(other_first not in str(m["content"]) for r in requests for m in r.messages)
        assert len(output.turns) == 3
        for turn in output.turns:
            assert turn["latency_ms"] > 0 and 0 < turn["ttft_ms"] <= turn["latency_ms"]
            assert turn["output_tokens"] == len(turn["raw_text"].split())
        assert output.output_tokens == sum(t["output_tokens"] for t in output.turns)
        assert output.raw_text == "\n\n".join(t["raw_text"] for t in output.turns)


def test_a_scripted_conversation_resumes_at_its_first_unanswered_turn(
    study, stub_candidate, openai_stub
):
    prompts_import(study=study, data=jsonl(MT_ROW), filename="mt.jsonl")
    stub_candidate(study, "alpha")
    openai_stub.plan("alpha", ["ok", "400"])  # turn 2 is refused: the output fails there
    (failed,) = generate_all(study)
    assert failed.status == Output.Status.FAILED
    assert len(failed.turns) == 1
    first = failed.turns[0]
    generation_start(study=study, retry_failed=True)  # what the admin's "retry" does
    openai_stub.requests.clear()
    (done,) = generate_all(study)
    assert done.status == Output.Status.DONE
    assert done.turns[0] == first  # turn 1 kept, not asked again
    assert [len(r.messages) for r in openai_stub.requests] == [4, 6]


def test_scrubbing_applies_to_every_turn(study, stub_candidate, openai_stub, monkeypatch):
    answers = iter(["I am Alpha, made by Example.", "Still Alpha here.", "Fine."])
    monkeypatch.setattr(openai_stub, "reply", lambda request: next(answers))
    prompts_import(study=study, data=jsonl(MT_ROW), filename="mt.jsonl")
    stub_candidate(study, "alpha", label="Alpha")
    (output,) = generate_all(study)
    assert output.status == Output.Status.DONE
    assert "Alpha" not in output.turns[0]["text"] and "Alpha" not in output.turns[1]["text"]
    assert "Alpha" in output.turns[1]["raw_text"]
    assert "Alpha" not in output.text
    assert output.identity_leak


def test_a_generated_conversation_is_voted_turn_by_turn_and_exported_with_own_answers(
    study, stub_candidate, openai_stub, client, monkeypatch
):
    """Issue 16 end to end: answers generated through LiteLLM against the stub, pairs built, a
    rater votes each turn through the voting view, and the battle export gives each model's
    own conversation up to the judged turn (the stub's answers, scrubbed as raters saw them)."""
    import json

    from evaluations.generation.pairing import pairs_build
    from evaluations.models import Study
    from raters.models import Vote
    from research.results.exports import study_votes_values, vote_rows
    from tests.raters.conftest import join

    voice = {"alpha": "Sunny", "beta": "Moony"}
    monkeypatch.setattr(
        openai_stub, "reply", lambda r: f"{voice[r.model]} reply {len(r.messages) // 2}"
    )
    prompts_import(study=study, data=jsonl(MT_ROW), filename="mt.jsonl")
    stub_candidate(study, "alpha"), stub_candidate(study, "beta")
    outputs = {o.candidate.label: o for o in generate_all(study)}
    assert pairs_build(study=study) == 1
    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN, vote_each_turn=True)
    study.refresh_from_db()
    rater = join(study)
    client.force_login(rater.user)
    page = client.get(f"/studies/{study.pk}/").content.decode()
    public_id = page.split('name="pair" value="')[1].split('"')[0]
    for turn, choice in ((1, "A"), (2, "B"), (3, "tie")):
        assert f'name="turn" value="{turn}"' in page
        page = client.post(
            f"/studies/{study.pk}/vote/",
            {"pair": public_id, "choice": choice, "turn": str(turn)},
            headers={"X-Requested-With": "fetch"},
        ).content.decode()
    assert sorted(Vote.objects.values_list("turn", flat=True)) == [1, 2, 3]
    rows = list(vote_rows(study=study, values=list(study_votes_values(study=study))))
    second = next(r for r in rows if r["turn"] == 2)
    for side in ("a", "b"):
        output = outputs[second[f"model_{side}"]]
        conversation = second[f"conversation_{side}"]
        assert [m["role"] for m in conversation] == [
            "system",
            "user",
            "assistant",
            "user",
            "assistant",
        ]
        assert conversation[2]["content"] == output.turns[0]["text"]
        assert conversation[4]["content"] == output.turns[1]["text"]
        own = voice[second[f"model_{side}"].lower()]
        assert conversation[2]["content"] == f"{own} reply 1"
        assert conversation[4]["content"] == f"{own} reply 2"
    assert json.dumps(second["conversation_a"]) != json.dumps(second["conversation_b"])
