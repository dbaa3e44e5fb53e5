"""The broker `make run` uses when none is configured survives a burst of Generate clicks."""

import json
import os
import subprocess
import sys
import threading

import pytest
from celery.signals import after_task_publish

from config.celery import app
from evaluations.generation.starting import generation_start, outputs_retry
from evaluations.models import Output, Study
from tests.factories import PromptFactory
from tests.generation.worker import REPO_ROOT, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PUBLISHES = 200


def default_broker(data_dir) -> dict:
    """The broker settings of a process started with no CELERY_BROKER_URL, as `make run`."""
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    env.update(TASTETEST_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings")
    code = (
        "import json; from django.conf import settings; print(json.dumps({"
        "'url': settings.CELERY_BROKER_URL, 'options': settings.CELERY_BROKER_TRANSPORT_OPTIONS}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, check=True
    )
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def forget_connections() -> None:
    # The app caches its connection pool and producer pool for the broker it first used.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def embedded_broker(tmp_path, monkeypatch):
    """Point this process's Celery app at `make run`'s default broker under ``tmp_path``."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery reads it before its conf
    saved = app.conf.broker_url, app.conf.broker_transport_options
    broker = default_broker(tmp_path)
    app.conf.broker_url, app.conf.broker_transport_options = broker["url"], broker["options"]
    forget_connections()
    assert app.connection_for_write().as_uri().startswith(broker["url"].split(":")[0])
    yield tmp_path
    forget_connections()
    app.conf.broker_url, app.conf.broker_transport_options = saved


def keep_the_interpreter_busy(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(10_000))


def publish_in_a_row(study, outputs, worker, capture_on_commit) -> int:
    """Click Generate and Retry until PUBLISHES tasks were sent; returns how many."""
    published = []

    def count(sender=None, **kwargs):
        published.append(sender)

    after_task_publish.connect(count, weak=False)
    try:
        i = 0
        while len(published) < PUBLISHES:
            # Retry after some outputs failed, then Generate after new prompts; a click may
            # find the worker already at the outputs and send nothing.
            status = Output.Status.FAILED if i % 2 == 0 else Output.Status.PENDING
            outputs.update(status=status, started_at=None, finished_at=None)
            with capture_on_commit(execute=True):
                if status == Output.Status.FAILED:
                    outputs_retry(output_ids=list(outputs.values_list("pk", flat=True)))
                else:
                    generation_start(study=study)
            assert worker.process.poll() is None, f"the worker died at click {i}:\n{worker.log()}"
            i += 1
    finally:
        after_task_publish.disconnect(count)
    return len(published)


def test_200_generate_and_retry_publishes_in_a_row_lose_no_worker(
    embedded_broker,
    study,
    stub_candidate,
    openai_stub,
    start_worker,
    django_capture_on_commit_callbacks,
):
    stub_candidate(study, "steady", max_concurrency=4)
    for i in range(2):
        PromptFactory(study=study, external_id=f"b{i}", text=f"Burst question {i}")
    outputs = Output.objects.filter(prompt__study=study)
    worker = start_worker(
        CELERY_BROKER_URL=None,  # the default, as under `make run`
        TASTETEST_DATA_DIR=str(embedded_broker),
        STUB_API_KEY="sk-stub",
        GENERATION_TIMEOUT_SECONDS=10,
    )
    wait_for(lambda: " ready." in worker.log(), timeout=60, what="the worker", worker=worker)
    # The web server answers other requests on other threads meanwhile: the publishing thread
    # waits for the GIL between the system calls of a publish, as under `make run`.
    stop = threading.Event()
    other_requests = threading.Thread(target=keep_the_interpreter_busy, args=(stop,))
    other_requests.start()
    try:
        published = publish_in_a_row(study, outputs, worker, django_capture_on_commit_callbacks)
    finally:
        stop.set()
        other_requests.join()
    wait_for(
        lambda: worker.log_path.read_text(errors="replace").count("succeeded") >= published,
        timeout=180,
        what=f"the worker to run all {PUBLISHES} tasks",
        worker=worker,
    )
    wait_for(
        lambda: Study.objects.get(pk=study.pk).status == Study.Status.READY,
        timeout=120,
        what="the last burst to be generated",
        worker=worker,
    )
    assert set(outputs.values_list("status", flat=True)) == {Output.Status.DONE}
    assert worker.process.poll() is None
    log = worker.log_path.read_text(errors="replace")
    assert "Unrecoverable error" not in log
    assert "Traceback" not in log
