"""A candidate's answer to a prompt, with what its call measured."""

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models

from evaluations.models.candidates import Candidate, ProviderBatch
from evaluations.models.prompts import Prompt
from evaluations.output_style import STYLE_COLUMNS, output_style_columns


class Output(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="outputs")
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="outputs")
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    text = models.TextField(
        blank=True, help_text="What raters see: scrubbed of self-identification."
    )
    raw_text = models.TextField(blank=True, help_text="The answer as the provider returned it.")
    turns = models.JSONField(
        default=list,
        blank=True,
        help_text="A scripted conversation's answers, one per finished turn, with each turn's "
        "text (scrubbed), raw_text, latency_ms, ttft_ms, tokens and cost_usd.",
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True, verbose_name="time to first token (ms)")
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(
        max_digits=14, decimal_places=8, null=True, blank=True, default=None
    )
    served_model = models.CharField(max_length=200, blank=True)
    deployment = models.CharField(max_length=500, blank=True)
    provider_batch = models.ForeignKey(
        ProviderBatch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="outputs",
        help_text="The provider batch answering it, while one does (batch mode).",
    )
    request_hash = models.CharField(max_length=64, blank=True, db_index=True)
    identity_leak = models.BooleanField(default=False, help_text="Self-identification scrubbed.")
    identity_review = models.BooleanField(
        default=False,
        help_text="A name that is also an ordinary word was left in the text for review.",
    )
    identity_findings = models.JSONField(
        default=list, blank=True, help_text="What the scrubber replaced or left for review."
    )
    identity_reviewed_at = models.DateTimeField(null=True, blank=True)
    identity_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    version_mismatch = models.BooleanField(
        default=False, help_text="The provider served a model other than the pinned version."
    )
    imported = models.BooleanField(default=False)
    cache_hit = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last renewal of a running output's claim by its worker."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The text's style features (evaluations.output_style), written with the text; NULL when
    # a raw-SQL writer left them out (results compute those before reading).
    style_length = models.PositiveIntegerField(null=True, blank=True, editable=False)
    style_headers = models.PositiveIntegerField(null=True, blank=True, editable=False)
    style_lists = models.PositiveIntegerField(null=True, blank=True, editable=False)
    style_bold = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["prompt", "candidate"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "candidate"], name="output_unique_prompt_candidate"
            ),
        ]
        # A study's outputs by status, counted through its few candidates (the study list).
        indexes = [
            models.Index(fields=["candidate", "status"], name="output_candidate_status"),
            # Outputs still lacking style features: one probe before results read them.
            models.Index(
                fields=["candidate"],
                condition=models.Q(style_length__isnull=True),
                name="output_style_missing",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prompt} / {self.candidate.label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "text" in update_fields:
            for column, value in output_style_columns(self.text).items():
                setattr(self, column, value)
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, *STYLE_COLUMNS.values()}
        super().save(*args, **kwargs)

    @property
    def cost(self) -> Decimal:
        return self.cost_usd or Decimal(0)
