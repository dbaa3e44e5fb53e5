"""LLM judges of conversation pairs, against the OpenAI-speaking stub: the judge's request holds
the shared part once and both conversations turn by turn (MT-Bench's multi-turn pairwise
format), images only for a judge that takes them, and never a model's name."""

import base64
import json
import re

import pytest

from evaluations.models import Candidate, JudgeVote, Output
from evaluations.studies.importing import prompts_import
from research.judging.runner import judge_votes_create, judge_votes_run
from tests.conversations.conftest import data_url, jsonl, png_bytes
from tests.factories import PairFactory
from tests.openai_stub import StubRequest

pytestmark = pytest.mark.django_db

CONVERSATION = re.compile(
    r"<\|The Start of Assistant (A|B)'s Conversation with User\|>\n(.*?)"
    r"<\|The End of Assistant \1's Conversation with User\|>",
    re.DOTALL,
)
TURNS = ["Write a haiku about rain.", "Make it sadder.", "Now give it a title."]
SECRETS = ("alpha-secret", "beta-secret", "Alpha-Secret", "Beta-Secret")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def user_text(request: StubRequest) -> str:
    content = request.messages[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


def conversation_judge(request: StubRequest) -> str:
    """Prefers the conversation whose answers say GOOD; no conversations, no verdict."""
    conversations = dict(CONVERSATION.findall(user_text(request)))
    if set(conversations) != {"A", "B"}:
        return "I see no two conversations."
    winner = next((side for side, text in conversations.items() if "GOOD" in text), "C")
    return f"Compared turn by turn. [[{winner}]]"


def pair_of(study, answers: dict[str, list[str]], *, scripted: bool):
    prompt = study.prompts.get()
    outputs = []
    for label, texts in answers.items():
        candidate = Candidate.objects.create(
            study=study, label=label, model=f"openai/{label.lower()}"
        )
        outputs.append(
            Output.objects.create(
                prompt=prompt,
                candidate=candidate,
                status=Output.Status.DONE,
                text="\n\n".join(texts),
                # What the model said before scrubbing: the judge must never be sent it.
                raw_text="\n\n".join(f"I am {label.lower()}. {t}" for t in texts),
                turns=[{"text": t, "raw_text": f"I am {label.lower()}. {t}"} for t in texts]
                if scripted
                else [],
            )
        )
    return PairFactory(study=study, prompt=prompt, output_a=outputs[0], output_b=outputs[1])


def judge_all(study, judges) -> list[JudgeVote]:
    judge_votes_create(study=study, judges=judges)
    ids = list(JudgeVote.objects.filter(study=study).values_list("id", flat=True))
    judge_votes_run(judge_vote_ids=ids)
    return list(JudgeVote.objects.filter(study=study))


def assert_blind(request: StubRequest) -> None:
    body = json.dumps(request.body)
    for secret in SECRETS:
        assert secret not in body


def test_the_judge_is_sent_both_full_scripted_conversations_turn_by_turn_and_no_names(
    study, stub_judge, judge_stub
):
    judge_stub.reply = conversation_judge
    row = {"id": "q81", "system": "You write well.", "turns": TURNS}
    prompts_import(study=study, data=jsonl(row), filename="p.jsonl")
    pair_of(
        study,
        {
            "Alpha-Secret": ["Rain on the roof", "Grey rain, no one home", "Title: Empty"],
            "Beta-Secret": ["Drops on leaves", "Cold drops GOOD", "Title: Goodbye"],
        },
        scripted=True,
    )
    judge = stub_judge(study, "fair")
    votes = judge_all(study, [judge])
    requests = judge_stub.requests_for("fair")
    assert len(requests) == 2
    for request in requests:
        assert_blind(request)
        text = user_text(request)
        # The shared part once: the system message both candidates were given.
        assert text.count("You write well.") == 1
        assert text.index("You write well.") < text.index("Assistant A's Conversation")
        conversations = dict(CONVERSATION.findall(text))
        assert set(conversations) == {"A", "B"}
        for side, conversation in conversations.items():
            positions = [conversation.index(f"### User:\n{turn}") for turn in TURNS]
            assert positions == sorted(positions)
            assert conversation.count(f"### Assistant {side}:") == 3
        answers = {
            side: re.findall(rf"### Assistant {side}:\n(.*?)\n\n", conversation)
            for side, conversation in conversations.items()
        }
        assert sorted(answers.values()) == [
            ["Drops on leaves", "Cold drops GOOD", "Title: Goodbye"],
            ["Rain on the roof", "Grey rain, no one home", "Title: Empty"],
        ]
    # Shown in both orders: the GOOD conversation was Assistant A once and Assistant B once.
    firsts = {dict(CONVERSATION.findall(user_text(r)))["A"].count("GOOD") for r in requests}
    assert firsts == {0, 1}
    assert {v.verdict for v in votes} == {JudgeVote.Verdict.B}  # Beta's, relative to the pair


def image_and_history_row(image: bytes) -> dict:
    return {
        "id": "v1",
        "messages": [
            {"role": "system", "content": "Answer about charts."},
            {"role": "user", "content": "I will send you a chart."},
            {"role": "assistant", "content": "Please do."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Which bar is tallest?"},
                    {"type": "image_url", "image_url": {"url": data_url(image)}},
                ],
            },
        ],
    }


def test_a_judge_that_takes_images_gets_the_image_once_and_one_that_cannot_a_placeholder(
    study, stub_judge, judge_stub
):
    judge_stub.reply = conversation_judge
    image = png_bytes("navy", size=(40, 30))
    prompts_import(study=study, data=jsonl(image_and_history_row(image)), filename="p.jsonl")
    pair_of(
        study,
        {"Alpha-Secret": ["The left bar GOOD."], "Beta-Secret": ["The right bar."]},
        scripted=False,
    )
    # LiteLLM knows gpt-4o takes images and gpt-3.5-turbo does not; both served by the stub.
    seeing = stub_judge(study, "gpt-4o")
    blind = stub_judge(study, "gpt-3.5-turbo")
    votes = judge_all(study, [seeing, blind])
    assert {v.status for v in votes} == {JudgeVote.Status.DONE}
    assert {v.verdict for v in votes} == {JudgeVote.Verdict.A}

    for request in judge_stub.requests_for("gpt-4o"):
        assert_blind(request)
        parts = request.messages[-1]["content"]
        images = [p for p in parts if p["type"] == "image_url"]
        assert len(images) == 1  # in the shared part, not once per conversation
        url = images[0]["image_url"]["url"]
        assert base64.b64decode(url.split(",", 1)[1]) == image
        text = user_text(request)
        shared, _, rest = text.partition("<|The Start of Assistant A's")
        assert "### Assistant:\nPlease do." in shared  # the history, once, before both answers
        assert "Which bar is tallest?" in shared and "Which bar" not in rest
        assert "The left bar GOOD." in rest and "The right bar." in rest

    for request in judge_stub.requests_for("gpt-3.5-turbo"):
        assert_blind(request)
        content = request.messages[-1]["content"]
        assert isinstance(content, str) and "data:image" not in content
        assert "[An image the user attached; it cannot be shown to you.]" in content


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_a_judge_is_sent_the_documents_as_the_candidates_were(study, stub_judge, judge_stub):
    judge_stub.reply = conversation_judge
    row = {
        "id": "d",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Summarise both."},
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
    pair_of(study, {"Alpha-Secret": ["Short."], "Beta-Secret": ["GOOD."]}, scripted=False)
    judge_all(study, [stub_judge(study, "gpt-4o")])
    for request in judge_stub.requests_for("gpt-4o"):
        parts = request.messages[-1]["content"]
        (document,) = [p for p in parts if p["type"] == "file"]
        assert document["file"]["filename"] == "c.pdf"
        assert base64.b64decode(document["file"]["file_data"].split(",", 1)[1]) == PDF
        assert "n.txt:\n\nclause 7" in user_text(request)


def test_a_conversation_whose_image_is_gone_fails_its_judge_calls_with_the_reason(
    study, stub_judge, judge_stub
):
    from evaluations.models import PromptMedia

    judge_stub.reply = conversation_judge
    prompts_import(study=study, data=jsonl(image_and_history_row(png_bytes())), filename="p.jsonl")
    pair_of(study, {"Alpha-Secret": ["Left."], "Beta-Secret": ["Right."]}, scripted=False)
    PromptMedia.objects.filter(study=study).delete()
    votes = judge_all(study, [stub_judge(study, "gpt-4o")])
    assert {v.status for v in votes} == {JudgeVote.Status.FAILED}
    assert all("a file of the prompt" in v.last_error and "missing" in v.last_error for v in votes)
    assert judge_stub.requests_for("gpt-4o") == []


def test_the_multi_turn_instructions_unless_the_researcher_wrote_their_own(
    study, stub_judge, judge_stub
):
    from research.judging.conversation_prompts import JUDGE_MULTI_TURN_SYSTEM_PROMPT

    judge_stub.reply = conversation_judge
    prompts_import(study=study, data=jsonl({"id": "q", "turns": TURNS}), filename="p.jsonl")
    pair_of(study, {"Alpha-Secret": ["1", "2", "3"], "Beta-Secret": ["4", "5", "6"]}, scripted=True)
    judge_all(study, [stub_judge(study, "fair")])
    assert {r.messages[0]["content"] for r in judge_stub.requests_for("fair")} == {
        JUDGE_MULTI_TURN_SYSTEM_PROMPT
    }
    study.judge_system_prompt = "Prefer the answer a nurse would give. [[A]], [[B]] or [[C]]."
    study.save()
    JudgeVote.objects.all().delete()
    judge_all(study, [stub_judge(study, "other")])
    assert {r.messages[0]["content"] for r in judge_stub.requests_for("other")} == {
        study.judge_system_prompt
    }
