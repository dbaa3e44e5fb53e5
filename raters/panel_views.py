"""Pages of an external panel: the entry a platform links to, and the finish that sends back.

The entry is a GET that only checks the ids and shows a start button; the rater is created or
resumed and signed in on the POST that button sends (CSRF-protected), so no link on another site
can sign a browser in. The finish redirects only to the panel's configured completion URL.
"""

from urllib.parse import urlsplit

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from raters.models import Panel, PanelParticipant
from raters.panels import (
    PANEL_SESSION_KEY,
    PROLIFIC_PARAMS,
    PanelRefused,
    completion_url_is_safe,
    panel_completion_redirect,
    panel_entry_parse,
    panel_id_param,
    panel_quota_reached,
    panel_session_of,
    participant_code,
    participant_complete,
    participant_enter,
)
from raters.progress import rater_progress
from raters.views import CONTENT_SECURITY_POLICY, strict_csp


def _panel(key: str) -> Panel:
    return get_object_or_404(Panel.objects.select_related("study"), key=key)


def _refused(request: HttpRequest, error: PanelRefused) -> HttpResponse:
    # Not counted as a failed sign-in: resuming needs the platform's session id as well, which
    # nobody can guess, and one NAT of participants with a broken link must not lock out invites.
    return render(request, "raters/panel_refused.html", {"reason": str(error)}, status=400)


def _param_names(panel: Panel) -> tuple[str, ...]:
    return (
        PROLIFIC_PARAMS if panel.platform == Panel.Platform.PROLIFIC else (panel_id_param(panel),)
    )


@strict_csp
@never_cache
@require_http_methods(["GET", "POST"])
def panel_enter(request: HttpRequest, key: str) -> HttpResponse:
    panel = _panel(key)
    params = request.GET if request.method == "GET" else request.POST
    try:
        entry = panel_entry_parse(panel, params)
        if request.method == "GET":
            hidden = [(name, params.get(name, "")) for name in _param_names(panel)]
            return render(
                request,
                "raters/panel_start.html",
                {"panel": panel, "study": panel.study, "hidden": hidden},
            )
        participant = participant_enter(panel=panel, entry=entry)
    except PanelRefused as error:
        return _refused(request, error)
    login(request, participant.rater.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[PANEL_SESSION_KEY] = panel_session_of(participant).as_dict()
    if participant.state != PanelParticipant.State.ACTIVE:
        return redirect("raters:panel_finish", key=panel.key)
    return redirect("raters:study", study_id=panel.study_id)


def _participant(request: HttpRequest, panel: Panel) -> PanelParticipant:
    participant = (
        PanelParticipant.objects.select_related("panel__study")
        .filter(panel=panel, rater__user_id=request.user.pk)
        .first()
    )
    if participant is None:
        raise Http404
    return participant


def _csp_allowing_completion(panel: Panel, response: HttpResponse) -> HttpResponse:
    # The finish form's redirect leaves the site: CSP form-action covers redirects too.
    if panel.completion_url and completion_url_is_safe(panel.completion_url):
        parts = urlsplit(panel.completion_url)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", f"form-action 'self' https://{parts.netloc}"
        )
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def panel_finish(request: HttpRequest, key: str) -> HttpResponse:
    panel = _panel(key)
    return _csp_allowing_completion(panel, _panel_finish(request, panel))


def _panel_finish(request: HttpRequest, panel: Panel) -> HttpResponse:
    """GET: the code (when done); POST: complete, and go back to the platform."""
    participant = _participant(request, panel)
    if participant.state == PanelParticipant.State.ACTIVE:
        progress = rater_progress(rater=participant.rater, study=panel.study)
        session = panel_session_of(participant)
        nothing_left = progress.available <= progress.voted
        if not (
            nothing_left
            or panel_quota_reached(session=session, voted=progress.voted, now=timezone.now())
        ):
            return redirect("raters:study", study_id=panel.study_id)
        if request.method == "GET":
            return render(
                request,
                "raters/panel_finish.html",
                {"panel": panel, "study": panel.study, "participant": participant},
            )
        participant_complete(participant=participant)
    request.session[PANEL_SESSION_KEY] = panel_session_of(participant).as_dict()
    target = panel_completion_redirect(participant)
    if target is not None and request.method == "POST":
        return redirect(target)
    return render(
        request,
        "raters/panel_finish.html",
        {
            "panel": panel,
            "study": panel.study,
            "participant": participant,
            "code": participant_code(participant),
            "target": target,
        },
    )
