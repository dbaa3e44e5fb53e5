import pytest

from tests.factories import CandidateFactory, PromptFactory
from tests.openai_stub import OpenAIStub


@pytest.fixture(scope="session")
def openai_stub_server():
    stub = OpenAIStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def openai_stub(openai_stub_server, monkeypatch):
    """The stub, reset for this test; candidates reach it with the key in STUB_API_KEY."""
    stub = openai_stub_server
    stub.reset()
    stub.latency = 0.0
    stub.retry_after = 1
    stub.slow_seconds = 2.0
    stub.opens_early = False
    stub.served_as.clear()
    monkeypatch.setenv("STUB_API_KEY", "sk-stub")
    yield stub
    stub.reset()


@pytest.fixture(autouse=True)
def fast_generation(settings):
    settings.GENERATION_RETRY_BASE_SECONDS = 0.02
    settings.GENERATION_RETRY_MAX_SECONDS = 0.1
    settings.GENERATION_TIMEOUT_SECONDS = (
        20  # a loaded CI machine: only tests about timeouts set less
    )
    settings.GENERATION_MAX_ATTEMPTS = 4
    settings.GENERATION_LEASE_SECONDS = 60


@pytest.fixture
def stub_candidate(openai_stub):
    """Make a candidate of ``study`` served by the stub under model name ``name``."""

    def make(study, name: str, **fields):
        return CandidateFactory(
            study=study,
            label=fields.pop("label", name.title()),
            model=f"openai/{name}",
            version=fields.pop("version", ""),
            api_base=openai_stub.base_url,
            **{"api_key_env": "STUB_API_KEY", **fields},
        )

    return make


@pytest.fixture
def prompts(study):
    return [
        PromptFactory(study=study, external_id=f"p{i}", text=f"Question {i}?") for i in range(3)
    ]


@pytest.fixture
def start_worker(tmp_path):
    """Start real Celery workers (``start_worker(**env)``); all are stopped after the test."""
    from config.celery import app
    from tests.generation.worker import Worker

    # Messages left in the queue by an earlier run would reference rows that no longer exist.
    app.control.purge()
    workers = []

    def start(**extra_env: str):
        worker = Worker(tmp_path, {k: None if v is None else str(v) for k, v in extra_env.items()})
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
