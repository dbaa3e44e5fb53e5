"""Whether a new member of a study starts with a training round (raters/training.py)."""

from django.db.models import QuerySet

from evaluations.models import Pair, Study
from raters.models import Membership


def gold_pairs(study: Study) -> QuerySet[Pair]:
    return Pair.objects.filter(study=study).exclude(gold_answer="").order_by("id")


def training_size(study: Study) -> int:
    """The round's length: the study's training_pairs, or every gold pair if there are fewer."""
    return min(study.training_pairs, gold_pairs(study).count()) if study.training_pairs else 0


def training_initial(study: Study) -> str:
    return Membership.Training.IN_PROGRESS if training_size(study) else Membership.Training.NONE
