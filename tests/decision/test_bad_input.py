"""Bad constraints and what-if parameters: a message, never a crash, nothing saved."""

from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluations.models import Study
from research.decision.constraints import ConstraintsError, constraints_from_json
from tests.factories import StudyFactory, UserFactory

JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "margin", "margin_kind", "volumes", "budget_usd", "price_source", "typed_prices",
        "ttft_p95_ms", "latency_p95_ms", "self_hosting_usd_per_hour", "hours_per_month",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, JSON, max_size=6) | JSON)
def test_any_json_gives_constraints_or_a_message_per_field_never_another_error(data):
    try:
        constraints = constraints_from_json(data)
    except ConstraintsError as error:
        assert error.errors and all(isinstance(m, str) for m in error.errors.values())
    else:
        # What validated round-trips through the study's JSON unchanged.
        assert constraints_from_json(constraints.as_json()) == constraints


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scale=st.text(max_size=20), source=st.text(max_size=10))
def test_what_if_query_parameters_never_give_a_500(db, scale, source):
    owner = UserFactory(is_staff=True, is_superuser=True)
    study = StudyFactory(owner=owner)
    client = Client()
    client.force_login(owner)
    for url in (
        f"/api/v1/studies/{study.pk}/decision/",
        f"/admin/evaluations/study/{study.pk}/decision/",
        f"/admin/evaluations/study/{study.pk}/decision/report.md",
    ):
        response = client.get(url, {"volume_scale": scale, "price_source": source})
        assert response.status_code in (200, 400), (url, response.status_code)


def test_a_bad_constraints_form_shows_the_messages_and_saves_nothing(db):
    owner = UserFactory(is_staff=True, is_superuser=True)
    study = StudyFactory(owner=owner, decision_constraints={"margin": 7})
    client = Client()
    client.force_login(owner)
    response = client.post(
        f"/admin/evaluations/study/{study.pk}/decision/",
        {"margin": "ten", "margin_kind": "win_probability", "budget_usd": "-4"},
    )
    assert response.status_code == 200
    assert b"margin: &#x27;ten&#x27; is not a number" in response.content
    assert b"budget_usd: must be a number of 0 or more" in response.content
    assert Study.objects.get(pk=study.pk).decision_constraints == {"margin": 7}


def test_a_good_constraints_form_is_saved_on_the_study(db):
    owner = UserFactory(is_staff=True, is_superuser=True)
    study = StudyFactory(owner=owner)
    client = Client()
    client.force_login(owner)
    response = client.post(
        f"/admin/evaluations/study/{study.pk}/decision/",
        {"margin": "20", "margin_kind": "rating", "budget_usd": "99.50", "price_source": "litellm"},
    )
    assert response.status_code == 302
    saved = Study.objects.get(pk=study.pk).decision_constraints
    assert saved["margin"] == 20.0 and saved["margin_kind"] == "rating"
    assert saved["budget_usd"] == "99.50" and saved["price_source"] == "litellm"
