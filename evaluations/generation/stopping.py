"""Stopping generation: a study moved out of generating by the researcher ("Back to draft",
"Mark ready") has its open provider batches cancelled."""

from __future__ import annotations

import contextlib

from django.db import transaction
from kombu.exceptions import OperationalError as BrokerUnreachable

from evaluations.generation.batches import STUDY_BATCHES_CANCEL_TASK, _send
from evaluations.models import ProviderBatch, Study
from evaluations.studies.lifecycle import study_status_change


def study_status_move(*, study: Study, status: str) -> None:
    """``study_status_change``; leaving generating also queues the cancel of the study's open
    batches (a task: the provider is called outside the request). The batch poll cancels them
    too should the task be lost (batch_polling.py)."""
    with transaction.atomic():
        was = Study.objects.select_for_update().get(pk=study.pk).status
        study_status_change(study=study, status=status)
        stopped = was == Study.Status.GENERATING and study.status != Study.Status.GENERATING
        if (
            stopped
            and ProviderBatch.objects.filter(study=study, status__in=ProviderBatch.OPEN).exists()
        ):
            transaction.on_commit(lambda: _cancel_queue(study.pk))


def _cancel_queue(study_id: int) -> None:
    # With the broker down the study has stopped all the same; the beat's poll cancels them.
    with contextlib.suppress(BrokerUnreachable):
        _send(STUDY_BATCHES_CANCEL_TASK, study_id)
