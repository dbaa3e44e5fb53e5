"""The results page's wording and cost chart on edge cases: no votes, no price, zero costs."""

import pytest
from django.core.cache import cache

from evaluations.models import Output
from evaluations.output_style import output_style_columns
from research.results import plots
from tests.api.conftest import build_study
from tests.factories import CandidateFactory, StudyFactory


def page(client, user, study) -> str:
    client.force_login(user)
    response = client.get(f"/admin/evaluations/study/{study.pk}/results/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_a_study_without_votes_says_what_will_appear_instead_of_errors(client, staff_user):
    study = StudyFactory(owner=staff_user)
    CandidateFactory(study=study, label="first")
    CandidateFactory(study=study, label="second")
    body = page(client, staff_user, study)
    assert 'class="warning"' not in body
    for alarming in ("nothing to rank", "carry no rater", "is not recorded", "no style features"):
        assert alarming not in body
    assert "No votes yet" in body
    assert "once raters vote" in body.lower()


@pytest.mark.django_db
def test_one_rater_is_not_called_raters(client, staff_user):
    study = build_study(staff_user, models=("a", "b"), prompts=1, raters=1)
    body = page(client, staff_user, study)
    assert "1 raters" not in body
    assert "from 1 rater on" in body


@pytest.mark.django_db
def test_length_bias_sentence_always_has_a_number_or_a_reason(client, staff_user):
    study = build_study(staff_user, models=("a", "b", "c"), prompts=4, raters=2)
    body = page(client, staff_user, study)
    assert "won  of" not in body
    # A bulk update writes the style features stored with the text itself, as the app's do.
    Output.objects.filter(prompt__study=study).update(
        text="same length", **output_style_columns("same length")
    )
    cache.clear()  # a bulk update sends no signal; outputs are not edited in the app
    body = page(client, staff_user, study)
    assert "won  of" not in body
    assert "Length: no decisive vote between answers of different lengths" in body


@pytest.mark.django_db
def test_small_costs_per_1000_prompts_keep_significant_digits(client, staff_user):
    study = build_study(staff_user, models=("a", "b"), prompts=2, raters=1)
    Output.objects.filter(prompt__study=study).update(cost_usd="0.00000123")
    body = page(client, staff_user, study)
    assert "$0.00123" in body
    assert "$0.00<" not in body


@pytest.mark.django_db
def test_the_cost_chart_shows_a_model_without_a_price(client, staff_user):
    study = build_study(staff_user, models=("priced", "also", "free"), prompts=2, raters=1)
    Output.objects.filter(candidate__label="free").update(cost_usd=None)
    body = page(client, staff_user, study)
    chart = body[body.index('id="chart-cost"') :]
    chart = chart[: chart.index("</figure>")]
    assert "free" in chart and "no price" in chart


def test_all_zero_costs_give_an_axis_that_starts_at_zero():
    points = [
        {"model": name, "rating": rating, "ci_low": rating - 50, "ci_high": rating + 50, "x": 0.0}
        for name, rating in (("a", 1000.0), ("b", 1050.0))
    ]
    svg = plots.tradeoff_chart(points, x_label="cost per 1,000 prompts (USD)", log_x=True)
    assert "\u22120.0" not in svg  # no negative tick
    assert "$0" in svg
