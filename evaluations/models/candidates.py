"""A candidate (a model string with its deployment, parameters and prices) and the provider
batches its outputs go through in batch mode."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from evaluations.models.common import _study_owner
from evaluations.models.study import Study


class Candidate(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="candidates")
    label = models.CharField(max_length=100, help_text="For researchers only; raters never see it.")
    model = models.CharField(
        max_length=200,
        help_text="LiteLLM model string: openai/gpt-4.1-mini, anthropic/claude-sonnet-4-6, "
        "ollama/llama3, openai/<name> with an api_base, demo/<name> for the offline demo.",
    )
    version = models.CharField(
        max_length=200,
        blank=True,
        help_text="The model version you expect the provider to serve. Not sent: it is recorded "
        "and compared with the model each answer reports, and a difference is flagged. To call "
        "a dated model, name it in the model string (openai/gpt-4.1-mini-2025-04-14).",
    )
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
    fallback_deployments = models.JSONField(
        default=list,
        blank=True,
        help_text='Other deployments of the same model: [{"connection": ...}] or '
        '[{"api_base": ..., "api_key_env": ...}].',
    )
    temperature = models.FloatField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    system_prompt = models.TextField(blank=True)
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
    max_concurrency = models.PositiveSmallIntegerField(default=16)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    imported = models.BooleanField(
        default=False,
        editable=False,
        help_text="Its answers and votes came from a file: it is never called for outputs.",
    )

    class Images(models.TextChoices):
        AUTO = "auto", "As LiteLLM knows the model (allowed when it does not know it)"
        YES = "yes", "Accepts images"
        NO = "no", "Does not accept images"

    accepts_images = models.CharField(
        max_length=4,
        choices=Images.choices,
        default=Images.AUTO,
        help_text="Generation refuses a study with image prompts for a candidate without them.",
    )

    class GenerationMode(models.TextChoices):
        LIVE = "live", "live (one call per output, answers in minutes, full price)"
        BATCH = "batch", "batch (the provider's batch API: within 24 h, about half price)"

    class BatchFallback(models.TextChoices):
        BATCH = "batch", "a new batch"
        LIVE = "live", "live calls"

    generation_mode = models.CharField(
        max_length=8, choices=GenerationMode.choices, default=GenerationMode.LIVE
    )
    batch_discount = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.5"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
        help_text="Batch mode: the fraction taken off the live price (0.5 = half price), used "
        "when LiteLLM has no batch price for the model.",
    )
    batch_fallback = models.CharField(
        max_length=8,
        choices=BatchFallback.choices,
        default=BatchFallback.BATCH,
        help_text="Batch mode: where the outputs of failed or expired batch lines go next.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "label"], name="candidate_unique_label"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.model})"

    @property
    def is_demo(self) -> bool:
        return self.model.startswith("demo/")

    def clean(self) -> None:
        from evaluations.providers.access import candidate_access_errors
        from evaluations.providers.batch_support import batch_mode_errors

        errors = candidate_access_errors(self, owner=_study_owner(self))
        if self.generation_mode == self.GenerationMode.BATCH:
            errors.update(batch_mode_errors(self.model))
        if errors:
            raise ValidationError(errors)


class ProviderBatch(models.Model):
    """One batch at a provider's batch API: the outputs it answers (``Output.provider_batch``)
    and where it is. ``key`` is stored before anything is uploaded, and sent as the batch's
    metadata, so that a worker restarted at any step finds the batch it created."""

    class Status(models.TextChoices):
        PREPARING = "preparing"  # key stored, request file not yet accepted as a batch
        SUBMITTED = "submitted"  # the provider has it (validating, queued or in progress)
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        FAILED = "failed"
        EXPIRED = "expired"
        CANCELLED = "cancelled"
        INGESTED = "ingested"  # its answers settled their outputs; nothing more to do

    OPEN = (Status.PREPARING, Status.SUBMITTED, Status.IN_PROGRESS)

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="provider_batches")
    candidate = models.ForeignKey(
        Candidate, on_delete=models.CASCADE, related_name="provider_batches"
    )
    key = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PREPARING)
    provider_status = models.CharField(max_length=40, blank=True)
    input_file_id = models.CharField(max_length=200, blank=True)
    provider_batch_id = models.CharField(max_length=200, blank=True)
    output_file_id = models.CharField(max_length=200, blank=True)
    error_file_id = models.CharField(max_length=200, blank=True)
    request_count = models.PositiveIntegerField(default=0)
    completed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    ingested_count = models.PositiveIntegerField(default=0)
    poll_interval_seconds = models.FloatField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "id"]
        indexes = [models.Index(fields=["status", "next_poll_at"], name="providerbatch_poll")]

    def __str__(self) -> str:
        return f"batch {self.provider_batch_id or self.key} ({self.status})"
