"""Cached results stay correct: a study's results are keyed by a version that every change to
its votes, pairs, raters or candidates moves on (the receivers below)."""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Max
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from evaluations.models import Candidate, Pair, Prompt
from raters.models import Membership, Vote

# --- cache versioning --------------------------------------------------------------------------


def _generation_key(study_id: int) -> str:
    return f"results:generation:{study_id}"


def _generation_bump(study_id: int) -> None:
    key = _generation_key(study_id)
    try:
        cache.incr(key)
    except ValueError:
        # A counter lost (evicted, cache flushed) restarts past every value it could have had,
        # so that no result stored under an earlier value looks current again.
        cache.set(key, time.time_ns(), timeout=None)


def results_invalidate(*, study_id: int) -> None:
    """Make every cached result of the study stale (the next request recomputes).

    Bumped now and again once the surrounding transaction commits: a computation that starts
    in between reads the votes as they were before the change and must not be stored as the
    result of the changed state."""
    _generation_bump(study_id)
    transaction.on_commit(lambda: _generation_bump(study_id))


def study_votes_version(*, study_id: int) -> str:
    newest = Vote.objects.filter(study_id=study_id).aggregate(newest=Max("id"))["newest"] or 0
    return f"{newest}.{cache.get(_generation_key(study_id), 0)}"


@receiver([post_save, post_delete], sender=Vote)
def _vote_changed(sender: type, instance: Vote, **kwargs: Any) -> None:
    results_invalidate(study_id=instance.study_id)


@receiver([post_save, post_delete], sender=Pair)
def _pair_changed(sender: type, instance: Pair, **kwargs: Any) -> None:
    results_invalidate(study_id=instance.study_id)


@receiver(post_save, sender=Membership)
def _membership_changed(sender: type, instance: Membership, **kwargs: Any) -> None:
    results_invalidate(study_id=instance.study_id)


@receiver([post_save, post_delete], sender=Candidate)
def _candidate_changed(sender: type, instance: Candidate, **kwargs: Any) -> None:
    results_invalidate(study_id=instance.study_id)


@receiver(post_save, sender=Prompt)
def _prompt_changed(sender: type, instance: Prompt, **kwargs: Any) -> None:
    # Its category groups the votes by category.
    results_invalidate(study_id=instance.study_id)
