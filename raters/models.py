import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from evaluations.models import Candidate, Output, Pair, Prompt, Study


def new_invite_key() -> str:
    return secrets.token_urlsafe(24)


class Rater(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rater"
    )
    display_name = models.CharField(max_length=100)
    expertise = models.CharField(max_length=200, blank=True)
    studies = models.ManyToManyField(Study, through="Membership", related_name="raters")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.display_name


class Membership(models.Model):
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="memberships")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    invite = models.ForeignKey("Invite", on_delete=models.SET_NULL, null=True, blank=True)
    flagged = models.BooleanField(
        default=False,
        help_text="Below the study's gold accuracy threshold, voting implausibly fast, or always "
        "picking the same side.",
    )
    flag_reason = models.CharField(
        max_length=500, blank=True, editable=False, help_text="The evidence for the flag."
    )

    class Training(models.TextChoices):
        NONE = "", "Not needed or passed"
        IN_PROGRESS = "in_progress", "In training"
        FAILED = "failed", "Failed training (screened out)"

    training = models.CharField(max_length=12, choices=Training.choices, blank=True, default="")
    senior = models.BooleanField(
        default=False,
        help_text="Adjudicates the study's contested pairs (its verdicts are kept apart from "
        "votes).",
    )
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rater", "study"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rater} in {self.study}"


class Invite(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="invites")
    key = models.CharField(max_length=64, unique=True, default=new_invite_key, editable=False)
    note = models.CharField(max_length=200, blank=True)
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, default=1, help_text="1 for single use; empty for unlimited."
    )
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()
    revoked = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Invite to {self.study} ({self.uses}/{self.max_uses or '∞'})"


class Vote(models.Model):
    """One rater's judgement of one pair, stored relative to the pair's canonical order."""

    class Choice(models.TextChoices):
        A = "a", "A better"
        B = "b", "B better"
        TIE = "tie", "Tie"
        BOTH_BAD = "both_bad", "Both bad"

    class Strength(models.IntegerChoices):
        SLIGHTLY = 1, "slightly better"
        MUCH = 2, "much better"

    # study is the pair's study, copied so that ranking queries group one table by study.
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="votes")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="votes")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="votes")
    choice = models.CharField(max_length=8, choices=Choice.choices)
    left_output = models.ForeignKey(
        Output, on_delete=models.CASCADE, related_name="+", help_text="Shown on the left."
    )
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # With Study.ask_strength, how much better the chosen answer is (null for a tie or both bad,
    # and in studies that do not ask).
    strength = models.PositiveSmallIntegerField(
        choices=Strength.choices, null=True, blank=True, editable=False
    )
    # In a study voted turn by turn, the turn judged (1 = the first user turn); empty for a
    # vote on the whole conversation (or a single answer). Only a rater's first vote on a pair
    # (turn empty or 1) takes a place in the pair's load: later turns are the same rater's.
    turn = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    # Words in the two answers shown, for the reading-time check (raters/reading_time.py);
    # null where a bulk writer did not count them.
    answer_words = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # Whether a decisive vote picked the answer shown on the left (raters/straight_lining.py),
    # stored so that the check reads no pair; null for ties, both-bad and bulk-written votes.
    picked_left = models.BooleanField(null=True, blank=True, editable=False)
    # The pair's candidates (output_a's, output_b's) and prompt, copied when the vote is
    # recorded so that ranking groups one table instead of joining a million votes to pairs
    # and outputs. A pair's outputs and prompt never change, so the copies cannot go stale.
    # Nullable because bulk writers may leave them out: results read such rows through the
    # pair (see research.results.aggregation). No single-column indexes: vote_study_cells
    # covers them.
    candidate_a = models.ForeignKey(
        Candidate,
        on_delete=models.CASCADE,
        related_name="+",
        null=True,
        editable=False,
        db_index=False,
    )
    candidate_b = models.ForeignKey(
        Candidate,
        on_delete=models.CASCADE,
        related_name="+",
        null=True,
        editable=False,
        db_index=False,
    )
    prompt = models.ForeignKey(
        Prompt,
        on_delete=models.CASCADE,
        related_name="+",
        null=True,
        editable=False,
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pair", "rater"],
                condition=models.Q(turn__isnull=True),
                name="vote_unique_pair_rater",
            ),
            models.UniqueConstraint(
                fields=["pair", "rater", "turn"],
                condition=models.Q(turn__isnull=False),
                name="vote_unique_pair_rater_turn",
            ),
        ]
        indexes = [
            # Ranking groups a study's votes per (candidate a, candidate b, choice) with the
            # prompt's category and the pair's gold answer; rater is included so that
            # excluding raters needs nothing else.
            models.Index(
                fields=["study", "candidate_a", "candidate_b", "choice"],
                include=["prompt", "pair", "rater"],
                name="vote_study_cells",
            ),
            # Rows written without the copies: found in one probe, normally none.
            models.Index(
                fields=["study"],
                condition=models.Q(candidate_a__isnull=True),
                name="vote_study_uncopied",
            ),
            # The newest vote of a study in one index probe: part of the results cache key.
            models.Index(fields=["study", "id"], name="vote_study_latest"),
            # A rater's newest vote in a study: undo and progress.
            models.Index(fields=["rater", "study", "created_at"], name="vote_rater_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.rater} on {self.pair}: {self.choice}"


class CriterionVote(models.Model):
    """The same submission's answer to one of the study's criteria (Study.criteria), stored
    like the vote relative to the pair's canonical order. Deleted with its vote (undo, discard)."""

    vote = models.ForeignKey(Vote, on_delete=models.CASCADE, related_name="criterion_votes")
    criterion = models.CharField(max_length=40)
    choice = models.CharField(max_length=8, choices=Vote.Choice.choices)
    strength = models.PositiveSmallIntegerField(
        choices=Vote.Strength.choices, null=True, blank=True
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["vote", "criterion"], name="criterion_vote_unique_vote_criterion"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.criterion}: {self.choice}"


class Assignment(models.Model):
    """A pair shown to one rater: the side it is shown on, and a reservation while they read.

    A reserved assignment counts towards the pair's votes-per-pair target until it expires, so
    raters working at once do not overshoot it. One row per (rater, pair), ever: a rater is
    never shown a pair twice, whether they voted on it or skipped it.
    """

    class State(models.TextChoices):
        RESERVED = "reserved", "Reserved"
        VOTED = "voted", "Voted"
        SKIPPED = "skipped", "Skipped"
        # Lapsed and given back to the pool: no longer counts towards the pair's load.
        EXPIRED = "expired", "Expired"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="assignments")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="assignments")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="assignments")
    left_output = models.ForeignKey(
        Output, on_delete=models.CASCADE, related_name="+", help_text="Shown on the left."
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.RESERVED)
    is_gold = models.BooleanField(default=False)
    expires_at = models.DateTimeField()
    shown_at = models.DateTimeField(default=timezone.now)
    # Set when the rater skipped it (not when a researcher discarded the vote): Undo may take
    # the skip back.
    skipped_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rater", "pair"], name="assignment_unique_rater_pair"),
        ]
        indexes = [
            models.Index(fields=["pair", "state", "expires_at"], name="assignment_pair_load"),
            models.Index(fields=["rater", "study", "state"], name="assignment_rater_state"),
            # Lapsed reservations of a study, found in one probe to hand their places back.
            models.Index(
                fields=["study", "expires_at"],
                condition=models.Q(state="reserved", is_gold=False),
                name="assignment_lapsing",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pair} for {self.rater} ({self.state})"


def new_panel_key() -> str:
    return secrets.token_urlsafe(18)


class Panel(models.Model):
    """A study opened to an external panel (Prolific, MTurk, any platform passing an id).

    The platform sends each participant to the panel's entry URL with their id (and, for
    Prolific, the study and session ids) in the query string; on completion the participant is
    sent to completion_url with the completion code, or shown the code when there is no URL.
    Only the URL stored here is ever redirected to: nothing from the request chooses it.
    """

    class Platform(models.TextChoices):
        PROLIFIC = "prolific", "Prolific"
        GENERIC = "generic", "Generic panel (any platform passing an id)"

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="panel")
    key = models.CharField(max_length=40, unique=True, default=new_panel_key, editable=False)
    platform = models.CharField(max_length=10, choices=Platform.choices, default="prolific")
    enabled = models.BooleanField(default=True)
    id_param = models.CharField(
        max_length=40,
        blank=True,
        help_text="Query parameter carrying the participant id (generic panels; "
        "Prolific uses PROLIFIC_PID).",
    )
    external_study_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="Prolific's study id: a STUDY_ID other than this one is refused.",
    )
    completion_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="https URL participants are sent to when done (the code is added as the "
        "code parameter); empty to show the code on screen (MTurk style). Prolific: "
        "https://app.prolific.com/submissions/complete",
    )
    code_param = models.CharField(max_length=20, default="cc")
    completion_code = models.CharField(max_length=64)
    screenout_code = models.CharField(
        max_length=64, blank=True, help_text="Given to participants who fail qualification."
    )
    max_pairs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Pairs per participant; empty for no limit."
    )
    max_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Minutes per participant; empty for no limit."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.get_platform_display()} panel of {self.study}"

    def clean(self) -> None:
        url = urlsplit(self.completion_url or "")
        if self.completion_url and (url.scheme != "https" or "@" in url.netloc):
            raise ValidationError({"completion_url": "Use an https URL without credentials."})


class PanelParticipant(models.Model):
    """One panel participant, known only by a keyed hash of their platform id."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        SCREENED_OUT = "screened_out", "Screened out"

    panel = models.ForeignKey(Panel, on_delete=models.CASCADE, related_name="participants")
    pseudonym = models.CharField(max_length=64, editable=False)
    # A keyed hash of the platform's session id: resuming needs the same session.
    session_digest = models.CharField(max_length=64, blank=True, editable=False)
    rater = models.OneToOneField(Rater, on_delete=models.CASCADE, related_name="panel_participant")
    state = models.CharField(max_length=12, choices=State.choices, default=State.ACTIVE)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["panel", "pseudonym"], name="panel_participant_unique_pseudonym"
            ),
        ]

    def __str__(self) -> str:
        return f"Participant {self.pseudonym[:8]} of {self.panel}"


class TrainingAnswer(models.Model):
    """A rater's answer to a gold pair in the training round: kept apart from Vote, so that
    no result, export or agreement can ever count it."""

    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="training_answers"
    )
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="+")
    choice = models.CharField(max_length=8, choices=Vote.Choice.choices)
    correct = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["membership", "pair"], name="training_answer_unique_pair"
            ),
        ]

    def __str__(self) -> str:
        return f"Training answer of {self.membership} on {self.pair}"


class Adjudication(models.Model):
    """A senior rater's verdict on a contested pair: kept apart from Vote, so that it never
    counts as one more vote; it may become the pair's gold answer or its label in exports."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="adjudications")
    pair = models.OneToOneField(Pair, on_delete=models.CASCADE, related_name="adjudication")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="adjudications")
    choice = models.CharField(max_length=8, choices=Vote.Choice.choices)
    left_output = models.ForeignKey(
        Output, on_delete=models.CASCADE, related_name="+", help_text="Shown on the left."
    )
    rationale = models.TextField(blank=True)
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Verdict of {self.rater} on {self.pair}: {self.choice}"
