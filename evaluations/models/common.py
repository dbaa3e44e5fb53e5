"""What several models share: the lifecycle error, seeds and public ids, the owner of a row."""

import secrets

from django.core.exceptions import ObjectDoesNotExist
from django.db import models


class IllegalTransition(Exception):
    """A study was asked to move to a status its lifecycle does not allow from where it is."""


def random_seed() -> int:
    return secrets.randbelow(2**31)


def _study_owner(row: models.Model):
    """The owner of the study a candidate or judge belongs to, or None before it has one."""
    try:
        return row.study.owner
    except ObjectDoesNotExist:
        return None


def public_pair_id() -> str:
    # 96 random bits, URL-safe: not sequential, not guessable, not derived from any model.
    return secrets.token_urlsafe(12)


# MT-Bench's pairwise judge prompt (Zheng et al. 2023, "pair-v2"): verdict tokens [[A]], [[B]],
# and [[C]] for a tie.
