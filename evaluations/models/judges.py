"""LLM judges and their votes."""

from django.core.exceptions import ValidationError
from django.db import models

from evaluations.models.common import _study_owner
from evaluations.models.pairs import Pair
from evaluations.models.study import Study


class Judge(models.Model):
    """An LLM that judges a study's pairs beside the human raters (never instead of them)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="judges")
    model = models.CharField(max_length=200, help_text="LiteLLM model string of the judge.")
    api_base = models.URLField(max_length=500, blank=True)
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Environment variable holding the key (LiteLLM's usual one if blank).",
    )
    connection = models.CharField(
        max_length=80,
        blank=True,
        help_text="A provider connection the operator set up (its api_base and key); "
        "leave api_base and the key variable blank with it.",
    )
    temperature = models.FloatField(null=True, blank=True, default=0.0)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    extra_params = models.JSONField(default=dict, blank=True)
    input_price_per_mtok = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="USD per million input tokens, for models LiteLLM has no price for.",
    )
    output_price_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True
    )
    max_concurrency = models.PositiveSmallIntegerField(default=8)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "model"], name="judge_unique_model"),
        ]

    def __str__(self) -> str:
        return self.model

    def clean(self) -> None:
        from evaluations.providers.access import judge_access_errors

        errors = judge_access_errors(self, owner=_study_owner(self))
        if errors:
            raise ValidationError(errors)


class JudgeVote(models.Model):
    """One judge call on one pair in one order; kept apart from the human votes.

    ``order`` "ab" shows the pair's output_a as Assistant A, "ba" shows it as Assistant B.
    ``verdict`` is stored relative to the pair's canonical order, like a human Vote's choice.
    """

    class Order(models.TextChoices):
        AB = "ab", "A first"
        BA = "ba", "B first"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Verdict(models.TextChoices):
        A = "a", "A better"
        B = "b", "B better"
        TIE = "tie", "Tie"
        UNPARSEABLE = "unparseable", "Unparseable"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="judge_votes")
    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="votes")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="judge_votes")
    order = models.CharField(max_length=2, choices=Order.choices)
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    verdict = models.CharField(max_length=12, choices=Verdict.choices, blank=True)
    raw_text = models.TextField(blank=True, help_text="The judge's answer as returned.")
    logprob_score = models.FloatField(
        null=True,
        blank=True,
        help_text="model_a's expected score (a 1, tie 1/2, b 0) under the judge's probabilities "
        "for its verdict token, from the provider's log-probabilities; empty when it gave none.",
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(
        max_digits=14, decimal_places=8, null=True, blank=True, default=None
    )
    served_model = models.CharField(max_length=200, blank=True)
    request_hash = models.CharField(max_length=64, blank=True, db_index=True)
    cache_hit = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["judge", "pair", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["judge", "pair", "order"], name="judgevote_unique_judge_pair_order"
            ),
        ]
        indexes = [models.Index(fields=["study", "judge", "status"], name="judgevote_progress")]

    def __str__(self) -> str:
        return f"{self.judge} on {self.pair} ({self.order}): {self.verdict or self.status}"
