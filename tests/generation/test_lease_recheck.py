"""An output held by another worker is checked again when that worker's lease ends, counted from
when the batch finishes rather than from when it looked: a batch can take a long time (the first
one in a worker imports LiteLLM; a slow provider), and a countdown taken at its start would
postpone the take-over of a dead worker's outputs by that long (issue 22)."""

import datetime

import pytest
from django.utils import timezone

from evaluations.models import Output
from research import tasks
from tests.factories import OutputFactory, PromptFactory


@pytest.mark.django_db(transaction=True)
def test_a_held_output_is_rechecked_when_its_lease_ends_however_long_the_batch_ran(
    study, stub_candidate, openai_stub, monkeypatch
):
    openai_stub.latency = 3.0
    candidate = stub_candidate(study, "slowbatch")
    last_beat = timezone.now() - datetime.timedelta(seconds=10)
    held = OutputFactory(
        prompt=PromptFactory(study=study),
        candidate=candidate,
        status=Output.Status.RUNNING,
        started_at=last_beat,
        heartbeat_at=last_beat,
    )
    pending = OutputFactory(
        prompt=PromptFactory(study=study), candidate=candidate, status=Output.Status.PENDING
    )
    enqueued: list[tuple[list[int], float | None]] = []
    monkeypatch.setattr(
        tasks,
        "outputs_enqueue",
        lambda *, output_ids, countdown=None: enqueued.append((output_ids, countdown)),
    )

    tasks.outputs_generate_task([held.pk, pending.pk])

    lease_left = (last_beat + datetime.timedelta(seconds=60) - timezone.now()).total_seconds()
    assert Output.objects.get(pk=pending.pk).status == Output.Status.DONE
    [(ids, countdown)] = enqueued
    assert ids == [held.pk]
    # One second past the lease's end, give or take the test's own bookkeeping.
    assert lease_left + 0.5 <= countdown <= lease_left + 1.5, (countdown, lease_left)
