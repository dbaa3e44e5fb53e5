"""A study: the question, the design, the lifecycle and the LLM judges' prompts."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from evaluations.models.common import IllegalTransition, random_seed

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
    # [{"key", "question", "both_bad"}], edited and checked by evaluations.studies.criteria.
    criteria = models.JSONField(
        default=list,
        blank=True,
        help_text="Questions asked about every pair besides the overall one, one per line as "
        "'key: question' (add ' [both bad]' to offer both-bad), e.g. 'accuracy: Which response "
        "is more accurate?'. Each is answered A / B / tie on the same screen.",
    )
    ask_strength = models.BooleanField(
        default=False,
        help_text="Ask by how much: A much better / A slightly better / tie / B slightly better "
        "/ B much better, for the overall question and every criterion.",
    )
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
    min_seconds_per_vote = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(3600.0)],
        help_text="A decisive vote quicker than this is too fast to have read the pair. Empty: "
        "the time to read both answers at a generous 12 words a second (at least the site's "
        "minimum, 2 s by default).",
    )
    adjudication_threshold = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Send a pair to the study's senior rater when the share of its votes agreeing "
        "with its most common answer is below this (0.7 sends 2-to-1 splits). Empty: no "
        "adjudication.",
    )
    adaptive_assignment = models.BooleanField(
        default=False,
        help_text="Once every pair has a vote, prefer pairs whose models are hardest to separate.",
    )
    vote_each_turn = models.BooleanField(
        "vote on each turn",
        default=False,
        help_text="Multi-turn conversations: raters vote on each turn in order (MT-Bench's "
        "turn 1, turn 2, ...), each vote recording its turn, instead of once per conversation.",
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

    def clean(self) -> None:
        super().clean()
        if self.vote_each_turn and (self.criteria or self.ask_strength):
            raise ValidationError(
                {
                    "vote_each_turn": "Criteria and strength are asked once per conversation: "
                    "turn off voting on each turn, or the criteria and strength."
                }
            )

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
