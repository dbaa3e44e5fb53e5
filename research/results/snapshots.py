"""Results as the results page and the results API serve them, within a request at any size.

A result (the `analysis` or `ranking` document for one study and one set of options) is
stored in a ResultSnapshot row with the state of the votes it was computed from
(`results_state`), when, and from how many votes. A request gets:

- CURRENT: the stored result of the votes as they are now (computed in the request when the
  study has at most `RESULTS_INLINE_MAX_VOTES` votes);
- STALE: the votes changed since the newest stored result, which is served saying when and
  from how many votes it was computed, while a Celery task computes the current one;
- COMPUTING: nothing computed yet for these options; a Celery task is computing it.

A table rather than the cache, so that the web processes and the workers share it whatever the
cache backend. One computation per row runs at a time (`computing_since`, claimed by a
conditional update). A row asked for in the last WATCH_SECONDS is computed again as soon as a
computation ends behind newer votes, so that a watched page catches up with votes that keep
coming.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import signature
from django.conf import settings
from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError

from evaluations.models import ResultSnapshot as SnapshotRow
from evaluations.models import Study
from raters.models import Vote

# The task's name (evaluations.tasks registers under it): services enqueue by name.
RESULTS_COMPUTE_TASK = "evaluations.tasks.results_compute_task"

logger = logging.getLogger(__name__)

CURRENT, STALE, COMPUTING = "current", "stale", "computing"
# "figures": the study's progress and its candidates' cost and latency, read from every vote
# and output, so computed like the analysis on a big study rather than in each request.
KINDS = ("analysis", "ranking", "figures")
# A computation that has not finished by then (its worker died) is started again on request.
LOCK_SECONDS = 300
WATCH_SECONDS = 600


@dataclass(frozen=True)
class ResultSnapshot:
    status: str
    document: Any = None
    computed_at: datetime | None = None
    votes: int | None = None
    computing_since: datetime | None = None
    # What analyze refused (an unknown category or anchor), found by the computation.
    error: str | None = None
    # Why no computation could be started (the task queue is unreachable).
    queue_error: str | None = None

    @property
    def current(self) -> bool:
        return self.status == CURRENT


def _row(study_id: int, kind: str, options: Any) -> SnapshotRow:
    keys = {"study_id": study_id, "kind": kind, "options_token": options.cache_token()}
    try:
        return SnapshotRow.objects.get_or_create(**keys)[0]
    except IntegrityError:  # created meanwhile by another process
        return SnapshotRow.objects.get(**keys)


def results_snapshot_store(
    *, study_id: int, kind: str, options: Any, state: str, document: Any = None, error: str = ""
) -> None:
    """Keep a computed result (or analyze's refusal of the options) as the study's newest."""
    if kind not in KINDS:
        return
    votes = document.get("summary", {}).get("votes") if isinstance(document, dict) else None
    SnapshotRow.objects.filter(pk=_row(study_id, kind, options).pk).update(
        state=state,
        document="" if document is None else json.dumps(document, allow_nan=False),
        votes=votes,
        error=error,
        computed_at=timezone.now(),
    )


def _votes_at_most(study: Study, limit: int) -> bool:
    return Vote.objects.filter(study=study).values("id")[: limit + 1].count() <= limit


def study_figures(*, study: Study, options: Any = None) -> dict[str, Any]:
    from research.results.study_stats import candidates_stats, study_progress

    progress = study_progress(study=study)
    return {
        "summary": {"votes": progress["votes"]},
        "progress": progress,
        "candidates": candidates_stats(study=study),
    }


def _compute_function(kind: str) -> Any:
    from research.results.aggregation import study_analysis, study_ranking

    return {"analysis": study_analysis, "ranking": study_ranking, "figures": study_figures}[kind]


def _snapshot(row: SnapshotRow, status: str, **fields: Any) -> ResultSnapshot:
    return ResultSnapshot(
        status=status,
        document=json.loads(row.document) if row.document else None,
        computed_at=row.computed_at,
        votes=row.votes,
        error=row.error or None,
        **fields,
    )


def results_snapshot(*, study: Study, kind: str, options: Any) -> ResultSnapshot:
    """The study's result for the options: current, or the newest one while it is computed.

    Small studies are computed in the request (raising ValueError for options analyze
    rejects, as `study_analysis` does); big ones by `results_compute_task`."""
    from research.results.aggregation import results_state

    state, _ = results_state(study=study, options=options)
    row = SnapshotRow.objects.filter(
        study=study, kind=kind, options_token=options.cache_token()
    ).first()
    if row is not None and row.state == state and (row.document or row.error):
        return _snapshot(row, CURRENT)
    if _votes_at_most(study, settings.RESULTS_INLINE_MAX_VOTES):
        document = _compute_function(kind)(study=study, options=options)
        return ResultSnapshot(CURRENT, document, timezone.now(), document["summary"]["votes"])
    row = row or _row(study.pk, kind, options)
    SnapshotRow.objects.filter(pk=row.pk).update(requested_at=timezone.now())
    since, queue_error = results_compute_enqueue(study_id=study.pk, kind=kind, options=options)
    fields = {"computing_since": since, "queue_error": queue_error}
    if row.document:
        return _snapshot(row, STALE, **fields)
    return ResultSnapshot(COMPUTING, **fields)


def _charts_draw(study: Study) -> None:
    """Draw the results page's charts of the newest results, so that the page finds them."""
    from research.results.aggregation import ResultOptions
    from research.results.views import results_page_charts

    figures = SnapshotRow.objects.filter(
        study=study, kind="figures", options_token=ResultOptions().cache_token()
    ).first()
    if figures is None or not figures.document:
        return
    stats = json.loads(figures.document)["candidates"]
    for exclude_flagged in (False, True):
        token = ResultOptions(exclude_flagged=exclude_flagged).cache_token()
        row = SnapshotRow.objects.filter(study=study, kind="analysis", options_token=token).first()
        if row is not None and row.document:
            results_page_charts(json.loads(row.document), stats)


def options_data(options: Any) -> dict[str, Any]:
    return {**asdict(options), "exclude_raters": list(options.exclude_raters)}


def results_compute_enqueue(
    *, study_id: int, kind: str, options: Any
) -> tuple[datetime | None, str | None]:
    """Start computing unless a computation is under way; when it started, and why none could
    be started if so."""
    now = timezone.now()
    row = _row(study_id, kind, options)
    claimed = (
        SnapshotRow.objects.filter(pk=row.pk)
        .filter(
            Q(computing_since__isnull=True)
            | Q(computing_since__lt=now - timedelta(seconds=LOCK_SECONDS))
        )
        .update(computing_since=now)
    )
    if not claimed:
        return SnapshotRow.objects.get(pk=row.pk).computing_since, None
    try:
        signature(RESULTS_COMPUTE_TASK).delay(study_id, kind, options_data(options))
    except OperationalError as exc:
        SnapshotRow.objects.filter(pk=row.pk).update(computing_since=None)
        logger.error("results of study %s not queued: %s", study_id, exc)
        return None, "the task queue cannot be reached, so the results are not being computed"
    return now, None


def results_compute(*, study_id: int, kind: str, options_values: dict[str, Any]) -> None:
    """The task's work: compute and store the result, then again if it was asked for lately
    and votes came in meanwhile."""
    from research.results.aggregation import ResultOptions, results_state

    options = ResultOptions(
        **{**options_values, "exclude_raters": tuple(options_values["exclude_raters"])}
    )
    rows = SnapshotRow.objects.filter(
        study_id=study_id, kind=kind, options_token=options.cache_token()
    )
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return
    # Read before the votes: a result is never labelled with a state newer than its votes.
    state, _ = results_state(study=study, options=options)
    try:
        document = _compute_function(kind)(study=study, options=options)
        results_snapshot_store(
            study_id=study_id, kind=kind, options=options, state=state, document=document
        )
    except ValueError as exc:
        results_snapshot_store(
            study_id=study_id, kind=kind, options=options, state=state, error=str(exc)
        )
    finally:
        rows.update(computing_since=None)
    if kind in ("analysis", "figures"):
        _charts_draw(study)
    row = rows.first()
    watched = timezone.now() - timedelta(seconds=WATCH_SECONDS)
    if (
        row is not None
        and row.requested_at is not None
        and row.requested_at > watched
        and row.state != results_state(study=study, options=options)[0]
    ):
        results_compute_enqueue(study_id=study_id, kind=kind, options=options)
