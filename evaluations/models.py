import secrets
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from evaluations.output_style import STYLE_COLUMNS, output_style_columns


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
JUDGE_SYSTEM_PROMPT = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two "
    "AI assistants to the user question displayed below. You should choose the assistant that "
    "follows the user's instructions and answers the user's question better. Your evaluation "
    "should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, "
    "and level of detail of their responses. Begin your evaluation by comparing the two "
    "responses and provide a short explanation. Avoid any position biases and ensure that the "
    "order in which the responses were presented does not influence your decision. Do not "
    "allow the length of the responses to influence your evaluation. Do not favor certain "
    "names of the assistants. Be as objective as possible. After providing your explanation, "
    'output your final verdict by strictly following this format: "[[A]]" if assistant A is '
    'better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)
JUDGE_PROMPT_TEMPLATE = (
    "[User Question]\n{question}\n\n"
    "[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's Answer]\n\n"
    "[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]"
)


def judge_system_prompt_default() -> str:
    return JUDGE_SYSTEM_PROMPT


def judge_prompt_template_default() -> str:
    return JUDGE_PROMPT_TEMPLATE


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        GENERATING = "generating", "Generating"
        READY = "ready", "Ready"
        OPEN = "open", "Open for voting"
        CLOSED = "closed", "Closed"

    # The lifecycle: draft -> generating -> ready -> open -> closed. A study may go back to
    # generating from ready (more outputs, retries) and be reopened after closing.
    TRANSITIONS: dict[str, set[str]] = {
        Status.DRAFT: {Status.GENERATING, Status.READY},
        Status.GENERATING: {Status.READY, Status.DRAFT},
        Status.READY: {Status.GENERATING, Status.OPEN},
        Status.OPEN: {Status.CLOSED},
        Status.CLOSED: {Status.OPEN},
    }

    class PairingMode(models.TextChoices):
        ALL = "all", "All candidate pairs per prompt"
        BALANCED = "balanced", "Balanced subset per prompt"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    question = models.CharField(max_length=500, default="Which response better answers the prompt?")
    instructions = models.TextField(blank=True, help_text="Shown to raters above every pair.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    votes_per_pair = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Votes wanted per pair; more than one gives inter-rater agreement.",
    )
    allow_tie = models.BooleanField(default=True)
    allow_both_bad = models.BooleanField(default=True)
    seed = models.PositiveIntegerField(
        default=random_seed, help_text="Seeds pair order and sides: the same seed, same pairs."
    )
    cache_enabled = models.BooleanField(
        default=True, help_text="Reuse an identical request already answered in any study."
    )
    pairing_mode = models.CharField(
        max_length=10, choices=PairingMode.choices, default=PairingMode.ALL
    )
    pairs_per_prompt = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="With balanced pairing: pairs built per prompt."
    )
    gold_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of assignments that are gold (attention-check) pairs.",
    )
    gold_min_accuracy = models.FloatField(
        default=0.7,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="A rater below this accuracy on gold pairs is flagged.",
    )
    training_pairs = models.PositiveSmallIntegerField(
        default=0,
        help_text="Gold pairs each new rater answers first, with feedback; below the gold "
        "accuracy bar they are screened out before voting for real. 0: no training round.",
    )
    adaptive_assignment = models.BooleanField(
        default=False,
        help_text="Once every pair has a vote, prefer pairs whose models are hardest to separate.",
    )
    open_when_ready = models.BooleanField(
        default=False,
        help_text="Open for voting as soon as generation has settled and pairs are built.",
    )
    judge_system_prompt = models.TextField(
        default=judge_system_prompt_default,
        blank=True,
        help_text="Instructions to the LLM judges; empty for MT-Bench's pairwise prompt.",
    )
    judge_prompt_template = models.TextField(
        default=judge_prompt_template_default,
        blank=True,
        help_text="The judge's message for one pair: {question}, {answer_a} and {answer_b} are "
        "filled in; {reference} too if used. The verdict must be [[A]], [[B]] or [[C]] (tie). "
        "Empty for MT-Bench's.",
    )
    cloned_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="clones",
        help_text="The study this one re-evaluates, reusing its still-valid outputs and votes.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="studies"
    )
    decision_constraints = models.JSONField(
        default=dict,
        blank=True,
        help_text="The decision page's constraints: margin, latency budget, volumes, budget, "
        "prices, self-hosting cost (evaluations.decision.constraints).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.name

    def can_transition_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, set())

    def transition_to(self, status: str) -> None:
        """Move to ``status`` and save, or raise IllegalTransition.

        The UPDATE is conditional on the status read, so two processes racing to move the
        same study cannot both succeed.
        """
        if not self.can_transition_to(status):
            raise IllegalTransition(
                f"Study {self.slug!r} cannot go from {self.status} to {status}; "
                f"allowed: {', '.join(sorted(self.TRANSITIONS.get(self.status, ()))) or 'none'}"
            )
        updated = Study.objects.filter(pk=self.pk, status=self.status).update(
            status=status, updated_at=timezone.now()
        )
        if not updated:
            self.refresh_from_db(fields=["status"])
            raise IllegalTransition(f"Study {self.slug!r} changed status concurrently")
        self.status = status

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


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


class Prompt(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=200)
    text = models.TextField()
    context = models.TextField(blank=True, help_text="Context or system text shown with it.")
    category = models.CharField(max_length=100, blank=True, db_index=True)
    reference = models.TextField(blank=True, help_text="Optional reference answer.")
    messages = models.JSONField(
        default=list,
        blank=True,
        help_text="A fixed conversation (system/user/assistant messages, ending with the user's), "
        "or with scripted turns only the system message. Each message's content is a list of "
        'parts: {"type": "text", "text"}, {"type": "image", "media"} or {"type": "file", '
        '"media", "filename"}; media is the sha256 of a PromptMedia of the study.',
    )
    turns = models.JSONField(
        default=list,
        blank=True,
        help_text="Scripted follow-ups: the user's turns, each candidate answering them in order.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "external_id"], name="prompt_unique_id"),
        ]
        # The admin's prompt list, a study's page of it in order without sorting them all.
        indexes = [models.Index(fields=["study", "id"], name="prompt_study_order")]

    def __str__(self) -> str:
        return self.external_id

    @property
    def is_conversation(self) -> bool:
        return bool(self.messages or self.turns)


def prompt_media_path(instance: "PromptMedia", filename: str) -> str:
    # Named by study and content hash: the same bytes are stored once per study, and the name
    # reveals nothing of the uploaded file's name.
    return f"prompt_media/{instance.study_id}/{instance.sha256}"


class PromptMedia(models.Model):
    """An image or document a study's prompts show; served only to the study's raters and owner."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="media")
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to=prompt_media_path, max_length=300)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    filename = models.CharField(max_length=255, blank=True, help_text="As named in the import.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "sha256"], name="prompt_media_unique_hash"),
        ]

    def __str__(self) -> str:
        return f"{self.filename or self.sha256[:12]} ({self.content_type})"

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


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


class ProviderConnection(models.Model):
    """An operator-approved deployment: an api_base (or the provider's own endpoint) and the
    environment variable holding its key, available to the users named or to everyone.

    Connections may also be declared in settings (``PROVIDER_CONNECTIONS``); those win over a
    row of the same name.
    """

    name = models.SlugField(max_length=80, unique=True)
    api_base = models.URLField(
        max_length=500, blank=True, help_text="Blank: the provider's own endpoint for the model."
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Environment variable of the worker holding the key (one the allowlist "
        "PROVIDER_KEY_ENV_ALLOWLIST permits); blank: LiteLLM's usual one.",
    )
    available_to_all = models.BooleanField(
        default=False, help_text="Every researcher may use it; otherwise only the users below."
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="provider_connections"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from evaluations.providers.access import provider_connection_errors

        errors = provider_connection_errors(self)
        if errors:
            raise ValidationError(errors)


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
