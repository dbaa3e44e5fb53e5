"""Stored results of big studies."""

from django.db import models

from evaluations.models.study import Study


class ResultSnapshot(models.Model):
    """The newest computed result of a study for one kind and set of options: what the results
    page and API serve while the current one is computed (evaluations.results.snapshots)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)
    options_token = models.CharField(max_length=40)
    # The votes state it was computed from (evaluations.results.results_state).
    state = models.CharField(max_length=200, blank=True)
    # JSON text, not jsonb: the document's key order is part of what the API returns.
    document = models.TextField(blank=True)
    votes = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="What analyze refused in the options.")
    computed_at = models.DateTimeField(null=True, blank=True)
    computing_since = models.DateTimeField(null=True, blank=True)
    # Last asked for while not current: a computation ending behind newer votes starts again.
    requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "kind", "options_token"], name="resultsnapshot_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.study_id} {self.kind} {self.options_token}"
