"""The anonymized pairs raters vote on."""

from django.db import models

from evaluations.models.common import public_pair_id
from evaluations.models.outputs import Output
from evaluations.models.prompts import Prompt
from evaluations.models.study import Study


class Pair(models.Model):
    class Answer(models.TextChoices):
        A = "a", "A better"
        B = "b", "B better"
        TIE = "tie", "Tie"
        BOTH_BAD = "both_bad", "Both bad"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="pairs")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="pairs")
    output_a = models.ForeignKey(Output, on_delete=models.CASCADE, related_name="pairs_as_a")
    output_b = models.ForeignKey(Output, on_delete=models.CASCADE, related_name="pairs_as_b")
    public_id = models.CharField(max_length=32, unique=True, default=public_pair_id, editable=False)
    gold_answer = models.CharField(
        max_length=8,
        choices=Answer.choices,
        blank=True,
        help_text="Set to make this an attention-check pair with a known right answer.",
    )
    gold_explanation = models.TextField(
        blank=True, help_text="Shown to raters in training after they answer this gold pair."
    )
    # Votes plus held reservations, kept by raters.assignment so that the next pair is an index
    # probe rather than a count over the study; it orders, the locked recount there guards.
    load = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "id"]
        indexes = [
            models.Index(
                fields=["study", "load", "id"],
                condition=models.Q(gold_answer=""),
                name="pair_regular_load",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["output_a", "output_b"], name="pair_unique_outputs"),
            models.CheckConstraint(
                condition=~models.Q(output_a=models.F("output_b")), name="pair_distinct_outputs"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_gold(self) -> bool:
        return bool(self.gold_answer)
