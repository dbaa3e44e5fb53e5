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
from raters.conversation_view import conversation_pair_view
from raters.forms import JoinForm, PairForm, VoteForm
from raters.invites import InviteInvalid, invite_accept, invite_from_token, rater_register
from raters.membership_lookup import membership_find
from raters.models import Assignment, Rater
from raters.panels import PANEL_SESSION_KEY, PanelSession, panel_quota_reached
from raters.progress import Progress, rater_progress
from raters.ratelimit import client_address
from raters.rendering import markdown_render
from raters.signin_limits import ADDRESS_FAILURES, LOCKOUT_SECONDS, signin_failure_record
from raters.voting import (
    UNDO_WINDOW,
    VoteOutcome,
    VoteRejected,
    action_undo,
    choice_allowed,
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
    if study.is_open and not quota_reached:
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
        "choices": [
            {"value": value, "label": label, "key": key}
            for value, label, key in CHOICES
            if choice_allowed(study=study, side_choice=value)
        ],
        "has_pairs": assignment is not None or Pair.objects.filter(study=study).exists(),
    }
    if assignment is not None:
        pair = assignment.pair
        left, right = (
            (pair.output_a, pair.output_b)
            if assignment.left_output_id == pair.output_a_id
            else (pair.output_b, pair.output_a)
        )
        context.update(
            pair_id=pair.public_id,
            prompt_html=markdown_render(pair.prompt.text),
            context_html=markdown_render(pair.prompt.context) if pair.prompt.context else "",
            answer_a_html=markdown_render(left.text),
            answer_b_html=markdown_render(right.text),
            instructions_html=markdown_render(study.instructions) if study.instructions else "",
        )
        if pair.prompt.is_conversation:
            context["conversation"] = conversation_pair_view(pair.prompt, left, right)
    return context


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
            rows.append({"study": study, "progress": rater_progress(rater=rater, study=study)})
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
    try:
        outcome = vote_record(
            rater=rater,
            study=study,
            public_id=form.cleaned_data["pair"],
            side_choice=form.cleaned_data["choice"],
            rationale=form.cleaned_data["rationale"],
            time_spent_ms=form.cleaned_data["time_spent_ms"],
        )
    except Assignment.DoesNotExist as error:
        raise Http404 from error
    except VoteRejected as error:
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
