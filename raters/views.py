"""Rater-facing pages. Everything here is blind: only the study's wording, the answers' scrubbed
text, a pair's opaque public_id and the letters A and B ever reach the browser."""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from evaluations.models import Pair, Study
from raters.assignment import assignment_next, assignment_skip
from raters.forms import JoinForm, PairForm, VoteForm
from raters.invites import InviteInvalid, invite_accept, invite_from_token, rater_register
from raters.judgments import JudgmentInvalid, answer_parse, criteria_answers, study_questions
from raters.membership_lookup import membership_find
from raters.models import Assignment, Rater
from raters.pair_display import pair_display_context
from raters.panels import PANEL_SESSION_KEY, PanelSession, panel_quota_reached
from raters.progress import Progress, rater_progress
from raters.ratelimit import client_address
from raters.signin_limits import ADDRESS_FAILURES, LOCKOUT_SECONDS, signin_failure_record
from raters.turns import PendingTurn, pending_turn_load, prompt_turn_count, turn_pending
from raters.voting import (
    UNDO_WINDOW,
    VoteOutcome,
    VoteRejected,
    action_undo,
    vote_record,
    vote_undo_possible,
)

# Failed attempts per client address before it is locked out (raters/signin_limits.py).
LOGIN_LIMIT = JOIN_LIMIT = (ADDRESS_FAILURES, LOCKOUT_SECONDS)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

# The training round's buttons (raters.training_views): no strength, no criteria.
CHOICES = [
    ("A", "A is better", "a"),
    ("B", "B is better", "b"),
    ("tie", "Tie", "t"),
    ("both_bad", "Both are bad", "x"),
]


def strict_csp(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """No inline script, no third-party anything: a second wall behind the sanitiser."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    return wrapped


def _rater_and_study(request: HttpRequest, study_id: int) -> tuple[Rater, Study]:
    """The signed-in rater and one of *their* studies; anything else is a plain 404."""
    # The rater comes with the membership, in one query: this runs on every vote.
    membership = membership_find(user_id=request.user.pk, study_id=study_id)
    if membership is None:
        raise Http404
    request.user.rater = membership.rater  # for the page header, without a query of its own
    request.rater_membership = membership
    return membership.rater, membership.study


def _panel_session(request: HttpRequest, study: Study) -> PanelSession | None:
    stored = request.session.get(PANEL_SESSION_KEY)
    if not stored or stored.get("study_id") != study.pk:
        return None
    return PanelSession(**stored)


def _progress_within_quota(progress: Progress, panel: PanelSession | None) -> Progress:
    """A participant's share is their quota of pairs, when the study has more."""
    if panel is None or panel.max_pairs is None or progress.available <= panel.max_pairs:
        return progress
    return Progress(voted=progress.voted, available=max(panel.max_pairs, progress.voted))


def _is_fragment(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _panel_context(
    request: HttpRequest, rater: Rater, study: Study, *, just_voted: VoteOutcome | None = None
) -> dict:
    """The voting panel; just_voted is a vote this request recorded (the newest, so undoable)."""
    assignment: Assignment | None = None
    panel = _panel_session(request, study)
    # A panel participant's quota is checked on the progress the page shows anyway, read before
    # reserving the next pair: no query of its own (the quota travels in their session).
    progress = rater_progress(rater=rater, study=study) if panel is not None else None
    quota_reached = panel is not None and panel_quota_reached(
        session=panel, voted=progress.voted, now=timezone.now()
    )
    pending = None
    if study.is_open and not quota_reached:
        pending = _turn_pending(rater, study, just_voted)
    if pending is not None:
        assignment = pending.assignment
    elif study.is_open and not quota_reached:
        none_held = just_voted is not None and not just_voted.holds_another
        assignment = assignment_next(rater=rater, study=study, none_held=none_held)
    context: dict = {
        "study": study,
        "assignment": assignment,
        "progress": _progress_within_quota(
            progress or rater_progress(rater=rater, study=study), panel
        ),
        "panel_key": panel.key if panel is not None else "",
        "quota_reached": quota_reached,
        "undoable": just_voted is not None
        or (study.is_open and vote_undo_possible(rater=rater, study=study)),
        "undo_minutes": int(UNDO_WINDOW.total_seconds() // 60),
        # Criteria make the form one row of keys per question, submitted together.
        "questions": (questions := study_questions(study)),
        "choices": questions[-1]["choices"],
        "multi": len(questions) > 1,
        "has_pairs": assignment is not None or Pair.objects.filter(study=study).exists(),
    }
    if assignment is not None:
        context.update(
            pair_display_context(
                study=study, pair=assignment.pair, left_output_id=assignment.left_output_id
            )
        )
        pair = assignment.pair
        if study.vote_each_turn and not pair.is_gold:
            turn = pending.turn if pending is not None else 1
            count = pending.turn_count if pending is not None else prompt_turn_count(pair.prompt)
            context.update(vote_turn=turn, turn_count=count)
            if "conversation" in context and count > 1:
                # Later turns stay hidden: each turn is judged on what came before it only.
                shown = context["conversation"]["turns"][:turn]
                shown[-1] = {**shown[-1], "current": True}
                context["conversation"] = {**context["conversation"], "turns": shown}
    return context


def _turn_pending(rater: Rater, study: Study, just_voted: VoteOutcome | None) -> PendingTurn | None:
    """The next turn to vote on in a study voted turn by turn: after a vote, the same pair's
    next turn if it has one; otherwise the pair of the rater's newest vote, if turns are left."""
    if not study.vote_each_turn:
        return None
    if just_voted is not None:
        vote = just_voted.vote
        if vote.turn is None or vote.turn >= just_voted.turn_count:
            return None
        return pending_turn_load(rater=rater, study=study, pair=vote.pair, turn=vote.turn + 1)
    return turn_pending(rater=rater, study=study)


def _panel_response(
    request: HttpRequest, rater: Rater, study: Study, *, just_voted: VoteOutcome | None = None
) -> HttpResponse:
    context = _panel_context(request, rater, study, just_voted=just_voted)
    if _is_fragment(request):
        return render(request, "raters/_panel.html", context)
    return redirect("raters:study", study_id=study.pk)


class RaterLoginView(auth_views.LoginView):
    template_name = "raters/login.html"
    redirect_authenticated_user = True

    @method_decorator(strict_csp)
    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        # Failed attempts are counted and locked out in raters/signin_limits.py.
        return super().dispatch(request, *args, **kwargs)


class RaterLogoutView(auth_views.LogoutView):
    pass


@strict_csp
@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    rater = getattr(request.user, "rater", None)
    rows = []
    if rater is not None:
        for membership in rater.memberships.select_related("study").order_by("-joined_at"):
            study = membership.study
            rows.append(
                {
                    "study": study,
                    "progress": rater_progress(rater=rater, study=study),
                    "senior": membership.senior,
                }
            )
    return render(request, "raters/home.html", {"rows": rows, "rater": rater})


@strict_csp
@never_cache
def join(request: HttpRequest, token: str) -> HttpResponse:
    # A guessed or stale link and a refused registration count as failed sign-ins (locked
    # addresses never get here: raters/signin_limits.py); a successful registration does not.
    try:
        invite = invite_from_token(token)
    except InviteInvalid as error:
        signin_failure_record(address=client_address(request))
        return render(request, "raters/join_invalid.html", {"reason": str(error)}, status=404)
    study = invite.study
    form = JoinForm()
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                invite_accept(invite=invite, user=request.user)
                return redirect("raters:study", study_id=study.pk)
            form = JoinForm(request.POST)
            if form.is_valid():
                rater = rater_register(
                    invite=invite,
                    username=form.cleaned_data["username"],
                    display_name=form.cleaned_data["display_name"],
                    password=form.cleaned_data["password1"],
                )
                login(request, rater.user, backend="django.contrib.auth.backends.ModelBackend")
                return redirect("raters:study", study_id=study.pk)
            signin_failure_record(address=client_address(request))
        except InviteInvalid as error:
            signin_failure_record(address=client_address(request))
            return render(request, "raters/join_invalid.html", {"reason": str(error)}, status=404)
    elif request.user.is_authenticated:
        rater = getattr(request.user, "rater", None)
        if rater is not None and rater.memberships.filter(study=study).exists():
            return redirect("raters:study", study_id=study.pk)
    login_url = f"{reverse('raters:login')}?next={request.path}"
    return render(
        request, "raters/join.html", {"study": study, "form": form, "login_url": login_url}
    )


@strict_csp
@never_cache
@login_required
@require_GET
def study(request: HttpRequest, study_id: int) -> HttpResponse:
    rater, study = _rater_and_study(request, study_id)
    if request.rater_membership.training:  # in training, or screened out by it
        return redirect("raters:training", study_id=study.pk)
    return render(request, "raters/vote.html", _panel_context(request, rater, study))


@strict_csp
@never_cache
@login_required
@require_POST
def vote(request: HttpRequest, study_id: int) -> HttpResponse:
    rater, study = _rater_and_study(request, study_id)
    form = VoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That vote was not understood; please choose again.")
        return _panel_response(request, rater, study)
    answer = answer_parse(form.cleaned_data["choice"])
    try:
        outcome = vote_record(
            rater=rater,
            study=study,
            public_id=form.cleaned_data["pair"],
            side_choice=answer.side,
            strength=answer.strength,
            criteria=criteria_answers(study=study, data=request.POST),
            rationale=form.cleaned_data["rationale"],
            time_spent_ms=form.cleaned_data["time_spent_ms"],
            turn=form.cleaned_data["turn"],
        )
    except Assignment.DoesNotExist as error:
        raise Http404 from error
    except (VoteRejected, JudgmentInvalid) as error:
        messages.warning(request, str(error))
    else:
        messages.success(
            request, "Vote recorded." if outcome.created else "That vote was already recorded."
        )
        if outcome.created and study.is_open:
            return _panel_response(request, rater, study, just_voted=outcome)
    return _panel_response(request, rater, study)


@strict_csp
@never_cache
@login_required
@require_POST
def skip(request: HttpRequest, study_id: int) -> HttpResponse:
    rater, study = _rater_and_study(request, study_id)
    form = PairForm(request.POST)
    if form.is_valid() and assignment_skip(
        rater=rater, study=study, public_id=form.cleaned_data["pair"]
    ):
        messages.info(request, "Skipped. You will not see that pair again.")
    return _panel_response(request, rater, study)


@strict_csp
@never_cache
@login_required
@require_POST
def undo(request: HttpRequest, study_id: int) -> HttpResponse:
    rater, study = _rater_and_study(request, study_id)
    try:
        outcome = action_undo(rater=rater, study=study)
    except VoteRejected as error:
        messages.warning(request, str(error))
    else:
        if outcome.undid == "skip":
            messages.info(request, "Your skip was taken back: here is that pair again.")
        else:
            messages.info(request, "Your last vote was taken back: choose again.")
    return _panel_response(request, rater, study)
