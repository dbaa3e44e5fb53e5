"""The training round's page: a gold pair, then the right answer and the researcher's reason."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from evaluations.models import Pair
from raters.forms import VoteForm
from raters.models import Membership, PanelParticipant
from raters.panels import PANEL_SESSION_KEY, panel_session_of
from raters.rendering import markdown_render
from raters.training import training_answer_record, training_finish, training_pair_next
from raters.views import CHOICES, _rater_and_study, strict_csp
from raters.voting import choice_allowed

SIDE_LABELS = {"A": "A", "B": "B", "tie": "a tie", "both_bad": "both are bad"}


def _choices(study) -> list[dict]:
    return [
        {"value": value, "label": label}
        for value, label, _ in CHOICES
        if choice_allowed(study=study, side_choice=value)
    ]


def _screened_out(request: HttpRequest, membership: Membership) -> HttpResponse:
    participant = (
        PanelParticipant.objects.filter(
            rater_id=membership.rater_id, panel__study_id=membership.study_id
        )
        .select_related("panel")
        .first()
    )
    if participant is not None:
        request.session[PANEL_SESSION_KEY] = panel_session_of(participant).as_dict()
        return redirect("raters:panel_finish", key=participant.panel.key)
    return render(request, "raters/training.html", {"study": membership.study, "failed": True})


@strict_csp
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def training(request: HttpRequest, study_id: int) -> HttpResponse:
    _, study = _rater_and_study(request, study_id)
    membership = request.rater_membership
    if membership.training == Membership.Training.NONE:
        return redirect("raters:study", study_id=study.pk)
    if membership.training == Membership.Training.FAILED:
        return _screened_out(request, membership)
    context: dict = {"study": study, "choices": _choices(study)}
    if request.method == "POST":
        form = VoteForm(request.POST)
        if not form.is_valid() or not choice_allowed(
            study=study, side_choice=form.cleaned_data["choice"]
        ):
            return redirect("raters:training", study_id=study.pk)
        try:
            feedback = training_answer_record(
                membership=membership,
                public_id=form.cleaned_data["pair"],
                side_choice=form.cleaned_data["choice"],
            )
        except Pair.DoesNotExist:  # a repeat or a stale page: show the current pair
            return redirect("raters:training", study_id=study.pk)
        if feedback.finished and not feedback.passed:
            return _screened_out(request, membership)
        context.update(
            feedback=feedback,
            right_label=SIDE_LABELS[feedback.right_side],
            explanation_html=markdown_render(feedback.explanation) if feedback.explanation else "",
        )
        return render(request, "raters/training.html", context)
    current = training_pair_next(membership)
    if current is None:  # the gold pairs changed under the round: judge what was answered
        if not training_finish(membership):
            return _screened_out(request, membership)
        return redirect("raters:study", study_id=study.pk)
    pair = current.pair
    left, right = (
        (pair.output_a, pair.output_b)
        if current.left_output_id == pair.output_a_id
        else (pair.output_b, pair.output_a)
    )
    context.update(
        current=current,
        pair_id=pair.public_id,
        prompt_html=markdown_render(pair.prompt.text),
        answer_a_html=markdown_render(left.text),
        answer_b_html=markdown_render(right.text),
    )
    return render(request, "raters/training.html", context)
