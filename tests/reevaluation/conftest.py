import itertools

import pytest
from django.utils import timezone

from evaluations.generation.pairing import pairs_build
from evaluations.models import Output
from raters.models import Assignment
from tests.factories import (
    CandidateFactory,
    JudgeFactory,
    JudgeVoteFactory,
    MembershipFactory,
    OutputFactory,
    PromptFactory,
    RaterFactory,
    VoteFactory,
)
from tests.openai_stub import OpenAIStub


@pytest.fixture(scope="session")
def reeval_stub_server():
    stub = OpenAIStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def reeval_stub(reeval_stub_server, monkeypatch, settings):
    stub = reeval_stub_server
    stub.reset()
    stub.served_as.clear()
    monkeypatch.setenv("STUB_API_KEY", "sk-stub")
    settings.GENERATION_RETRY_BASE_SECONDS = 0.02
    settings.GENERATION_RETRY_MAX_SECONDS = 0.1
    settings.GENERATION_TIMEOUT_SECONDS = (
        20  # a loaded CI machine: only tests about timeouts set less
    )
    settings.GENERATION_MAX_ATTEMPTS = 3
    yield stub
    stub.reset()


@pytest.fixture
def eager(request):
    from config.celery import app

    app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(app.conf, "task_always_eager", False))


def stub_candidate(study, name: str, base_url: str, version: str = "v1"):
    return CandidateFactory(
        study=study,
        label=name,
        model=f"openai/{name}",
        version=version,
        api_base=base_url,
        api_key_env="STUB_API_KEY",
        temperature=0.0,
    )


@pytest.fixture
def voted_study(study, reeval_stub):
    """Three stub-served candidates on three prompts, every pair voted by two raters (with
    their assignments) and judged in both orders."""
    candidates = [
        stub_candidate(study, name, reeval_stub.base_url) for name in ("alpha", "beta", "gamma")
    ]
    for i in range(3):
        prompt = PromptFactory(study=study, external_id=f"p{i}", text=f"Question {i}?")
        for candidate in candidates:
            OutputFactory(
                prompt=prompt,
                candidate=candidate,
                text=f"{candidate.label} says {i}",
                served_model=candidate.model.split("/")[1],
            )
    pairs_build(study=study)
    raters = [RaterFactory() for _ in range(2)]
    for rater in raters:
        MembershipFactory(rater=rater, study=study)
    judge = JudgeFactory(study=study, model="openai/judge")
    for pair, rater in itertools.product(study.pairs.all(), raters):
        VoteFactory(pair=pair, rater=rater, choice="a", left_output=pair.output_b)
        Assignment.objects.create(
            study=study,
            pair=pair,
            rater=rater,
            left_output=pair.output_b,
            state=Assignment.State.VOTED,
            expires_at=timezone.now(),
        )
    for pair, order in itertools.product(study.pairs.all(), ("ab", "ba")):
        JudgeVoteFactory(judge=judge, pair=pair, order=order, verdict="a", raw_text="[[A]]")
    assert Output.objects.filter(prompt__study=study).count() == 9
    assert study.pairs.count() == 9
    return study
