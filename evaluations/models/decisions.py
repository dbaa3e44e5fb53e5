"""Decisions recorded from a study's decision page."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from evaluations.models.study import Study


class Decision(models.Model):
    """A decision recorded from a study's decision page: who, when, under which constraints,
    on which votes, and what was recommended, so that a re-evaluation can say whether it holds."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="decisions")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)
    constraints = models.JSONField(default=dict)
    votes = models.PositiveIntegerField(help_text="Votes counted in the ranking it rests on.")
    newest_vote_id = models.PositiveBigIntegerField(
        null=True, help_text="The newest vote it saw: later votes came after the decision."
    )
    recommendations = models.JSONField(
        default=dict, help_text="Per category (and overall): the recommended candidate label."
    )
    document = models.JSONField(default=dict, help_text="The decision as the API gave it.")

    class Meta:
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.study} decided {self.decided_at:%Y-%m-%d %H:%M}"
