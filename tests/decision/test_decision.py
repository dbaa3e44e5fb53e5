"""The decision end to end over a voted study: Decimal costs, "no price", what-ifs, the API
against the report, bad constraints, recorded decisions on a clone."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.test import Client

from evaluations.models import Decision, Output
from research.decision.constraints import ConstraintsError, constraints_from_json
from research.decision.selectors import decision_document
from research.decision.service import CENT
from research.reevaluation.clones import study_clone
from tests.decision.conftest import price_outputs


def _constrain(study, **extra):
    study.decision_constraints = {
        "margin": 10,
        "volumes": {"math": 1000, "writing": 3000},
        **extra,
    }
    study.save()


def _scope(document, name):
    return next(s for s in [*document["categories"], document["overall"]] if s["scope"] == name)


def _model(scope, label):
    return next(m for m in scope["models"] if m["model"] == label)


def test_projected_monthly_cost_is_measured_mean_cost_per_request_times_volume(decided_study):
    costs = ["0.00012345", "0.00023456", "0.00034567"]
    for k, output in enumerate(
        Output.objects.filter(
            candidate__study=decided_study, candidate__label="beta", prompt__category="math"
        )
    ):
        output.cost_usd = Decimal(costs[k % 3])
        output.save()
    _constrain(decided_study)
    math = _scope(decision_document(study=decided_study), "math")
    measured = [
        o.cost_usd
        for o in Output.objects.filter(
            candidate__study=decided_study, candidate__label="beta", prompt__category="math"
        )
    ]
    mean = sum(measured, Decimal(0)) / len(measured)
    beta = _model(math, "beta")
    # Shown to 1e-10 USD; the monthly cost is computed from the exact mean, then to the cent.
    shown = mean.quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP)
    assert Decimal(beta["cost_per_request_usd"]) == shown
    assert beta["monthly_cost_usd"] == str((mean * 1000).quantize(CENT, rounding=ROUND_HALF_UP))


def test_a_model_without_a_price_says_no_price_and_is_never_chosen_for_cost(decided_study):
    price_outputs(decided_study, {"alpha": None})
    _constrain(decided_study, margin=49)
    document = decision_document(study=decided_study)
    for scope in [*document["categories"], document["overall"]]:
        alpha = _model(scope, "alpha")
        assert alpha["no_price"] == "no cost recorded on its outputs"
        assert alpha["monthly_cost_usd"] is None and not alpha["eligible"]
        assert scope["recommended"] != "alpha"


def test_volume_what_if_scales_every_monthly_cost(decided_study):
    _constrain(decided_study)
    base = decision_document(study=decided_study)
    doubled = decision_document(study=decided_study, volume_scale=Decimal(2))
    for name in ("math", "writing", "overall"):
        a, b = _scope(base, name), _scope(doubled, name)
        assert b["volume"] == 2 * a["volume"]
        assert Decimal(b["monthly_cost_usd"]) == 2 * Decimal(a["monthly_cost_usd"])


def test_typed_prices_reprice_the_measured_tokens_and_the_report_shows_their_date(
    decided_study,
):
    _constrain(
        decided_study,
        price_source="typed",
        typed_prices={"gamma": {"input_per_mtok": "1", "output_per_mtok": "2"}},
        typed_prices_date="2026-11-30",
    )
    document = decision_document(study=decided_study)
    gamma = _model(_scope(document, "math"), "gamma")
    # 100 input and 50 output tokens: (100 x 1 + 50 x 2) / 1e6 = 0.0002 per request.
    assert Decimal(gamma["cost_per_request_usd"]) == Decimal("0.0002")
    assert _model(_scope(document, "math"), "beta")["no_price"] == "no price typed for it"
    assert document["prices"] == {
        "kind": "typed",
        "source": "prices typed by the researcher per candidate",
        "date": "2026-11-30",
    }


@pytest.mark.parametrize(
    "data, field",
    [
        ({"margin": "lots"}, "margin"),
        ({"margin": 60}, "margin"),
        ({"volumes": {"math": "-3"}}, "volumes.math"),
        ({"volumes": {"math": "2.5"}}, "volumes.math"),
        ({"price_source": "guess"}, "price_source"),
        ({"budget_usd": "NaN"}, "budget_usd"),
        ({"typed_prices": {"x": {"input_per_mtok": "1e999"}}}, "typed_prices.x.input"),
    ],
)
def test_bad_constraints_are_refused_with_a_message_per_field(data, field):
    with pytest.raises(ConstraintsError) as error:
        constraints_from_json(data)
    assert field in error.value.errors


def test_the_api_and_the_markdown_report_agree(decided_study, api, researcher):
    _constrain(decided_study, self_hosting_usd_per_hour="2.5")
    response = api.get(f"/api/v1/studies/{decided_study.pk}/decision/?volume_scale=3")
    assert response.status_code == 200
    document = response.json()
    client = Client()
    client.force_login(researcher)
    markdown = client.get(
        f"/admin/evaluations/study/{decided_study.pk}/decision/report.md?volume_scale=3"
    ).content.decode()
    for scope in [*document["categories"], document["overall"]]:
        row = (
            f"| {scope['scope']} | {scope['volume']:,} | {scope['recommended']} | "
            f"${scope['monthly_cost_usd']} |"
        )
        assert row in markdown
    assert f"Blended monthly cost ${document['routing']['monthly_cost_usd']}" in markdown


def test_bad_what_if_parameters_are_a_400_not_a_500(decided_study, api):
    for query in ("volume_scale=-1", "volume_scale=abc", "price_source=nope"):
        response = api.get(f"/api/v1/studies/{decided_study.pk}/decision/?{query}")
        assert response.status_code == 400, query


def test_the_schema_documents_the_decision_endpoint(api):
    schema = api.get("/api/v1/schema/?format=json").json()
    assert "/api/v1/studies/{study_id}/decision/" in schema["paths"]


def test_a_recorded_decision_is_shown_on_a_clone_with_whether_it_holds(decided_study, researcher):
    _constrain(decided_study)
    researcher.is_superuser = True
    researcher.save()
    client = Client()
    client.force_login(researcher)
    page = f"/admin/evaluations/study/{decided_study.pk}/decision/"
    response = client.post(page, {"action": "record", "note": "go with it"})
    assert response.status_code == 302
    decision = Decision.objects.get(study=decided_study)
    assert decision.decided_by == researcher and decision.votes == decided_study.votes.count()
    assert decision.recommendations["overall"] == "gamma"
    clone = study_clone(study=decided_study, name="re-run", slug="re-run", owner=researcher).study
    recorded = decision_document(study=clone)["recorded"]
    assert recorded[0]["origin"] == "the study this re-evaluates"
    assert recorded[0]["decided_by"] == researcher.get_username()


def test_drift_of_a_recommended_model_makes_a_recorded_decision_no_longer_hold(
    decided_study, researcher
):
    from research.decision.records import decision_record

    _constrain(decided_study)
    decision_record(
        study=decided_study, user=researcher, document=decision_document(study=decided_study)
    )
    assert decision_document(study=decided_study)["recorded"][0]["holds"]
    Output.objects.filter(candidate__study=decided_study, candidate__label="gamma").update(
        served_model="openai/other", version_mismatch=True
    )
    entry = decision_document(study=decided_study)["recorded"][0]
    assert not entry["holds"]
    assert {s["scope"] for s in entry["scopes"] if s["drift"]} >= {"overall"}
