"""The senior rater's adjudication queue: contested pairs, judged in the same blind, keyboard-
driven page as votes (raters/_pair.html, static/raters/voting.js); only a study's designated
senior reaches it, anyone else gets the same 404 as for a study that does not exist."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from evaluations.models import Pair
from raters.adjudication import AdjudicationRejected, adjudication_next, adjudication_record
from raters.forms import VoteForm
from raters.models import Membership
from raters.pair_display import pair_display_context
from raters.views import CHOICES, _is_fragment, _rater_and_study, strict_csp
from raters.voting import choice_allowed


def _panel_context(membership: Membership) -> dict:
    study = membership.study
    current = adjudication_next(membership=membership)
    context: dict = {
        "study": study,
        "current": current,
        "choices": [
            {"value": value, "label": label, "key": key}
            for value, label, key in CHOICES
            if choice_allowed(study=study, side_choice=value)
        ],
    }
    if current is not None:
        context.update(
            pair_display_context(
                study=study, pair=current.pair, left_output_id=current.left_output_id
            )
        )
    return context


@strict_csp
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def adjudication(request: HttpRequest, study_id: int) -> HttpResponse:
    _, study = _rater_and_study(request, study_id)
    membership = request.rater_membership
    if not membership.senior:
        raise Http404
    if request.method == "POST":
        form = VoteForm(request.POST)
        if not form.is_valid():
            messages.error(request, "That verdict was not understood; please choose again.")
        else:
            try:
                adjudication_record(
                    membership=membership,
                    public_id=form.cleaned_data["pair"],
                    side_choice=form.cleaned_data["choice"],
                    rationale=form.cleaned_data["rationale"],
                    time_spent_ms=form.cleaned_data["time_spent_ms"],
                )
            except Pair.DoesNotExist as error:
                raise Http404 from error
            except AdjudicationRejected as error:
                messages.warning(request, str(error))
            else:
                messages.success(request, "Verdict recorded.")
        if not _is_fragment(request):
            return redirect("raters:adjudication", study_id=study.pk)
    template = "raters/_adjudication_panel.html" if _is_fragment(request) else None
    return render(request, template or "raters/adjudication.html", _panel_context(membership))
