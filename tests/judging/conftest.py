import re

import pytest

from evaluations.generation.pairing import pairs_build
from evaluations.models import Output
from tests.factories import CandidateFactory, JudgeFactory, OutputFactory, PromptFactory
from tests.openai_stub import OpenAIStub, StubRequest, default_reply

SECTION = re.compile(r"\[The Start of Assistant (A|B)'s Answer\]\n(.*?)\n\[The End", re.DOTALL)


def scripted_judge(request: StubRequest) -> str:
    """Judges by model name: "fair" prefers the answer containing GOOD, in either order;
    "biased" always prefers the first answer; "mumbler" never gives a verdict."""
    name = request.model
    if name == "biased":
        return "Assistant A is more thorough. [[A]]"
    if name == "mumbler":
        return "Both answers have merits; I cannot decide between them."
    answers = dict(SECTION.findall(request.last_user_text))
    if not answers:
        return default_reply(request)
    winner = next((side for side, text in answers.items() if "GOOD" in text), None)
    token = f"[[{winner}]]" if winner else "[[C]]"
    # The explanation quotes the format first: only the final token may count.
    return f"The format asks for [[A]], [[B]] or [[C]]. Having compared both:\nVerdict: {token}"


@pytest.fixture(scope="session")
def judge_stub_server():
    stub = OpenAIStub(reply=scripted_judge).start()
    yield stub
    stub.stop()


@pytest.fixture
def judge_stub(judge_stub_server, monkeypatch):
    stub = judge_stub_server
    stub.reset()
    stub.reply = scripted_judge
    stub.served_as.clear()
    monkeypatch.setenv("STUB_API_KEY", "sk-stub")
    yield stub
    stub.reset()


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.GENERATION_RETRY_BASE_SECONDS = 0.02
    settings.GENERATION_RETRY_MAX_SECONDS = 0.1
    settings.GENERATION_TIMEOUT_SECONDS = (
        20  # a loaded CI machine: only tests about timeouts set less
    )
    settings.GENERATION_MAX_ATTEMPTS = 3
    settings.GENERATION_LEASE_SECONDS = 60


@pytest.fixture
def stub_judge(judge_stub):
    def make(study, name: str, **fields):
        return JudgeFactory(
            study=study,
            model=f"openai/{name}",
            api_base=judge_stub.base_url,
            api_key_env="STUB_API_KEY",
            **fields,
        )

    return make


@pytest.fixture
def judged_study(study):
    """Two candidates on three prompts, paired: "strong" always answers GOOD, "weak" never."""
    strong = CandidateFactory(study=study, label="strong", model="openai/strong")
    weak = CandidateFactory(study=study, label="weak", model="openai/weak")
    for i in range(3):
        prompt = PromptFactory(study=study, external_id=f"p{i}", text=f"Question {i}?")
        OutputFactory(prompt=prompt, candidate=strong, text=f"A GOOD answer to {i}.")
        OutputFactory(prompt=prompt, candidate=weak, text=f"A poor answer to {i}.")
    pairs_build(study=study)
    assert Output.objects.filter(prompt__study=study).count() == 6
    return study
