"""Results page, results endpoints and `analyze` on any small study: never a 5xx, never a 400
for valid options, never a non-finite number; the API and `analyze` on its export agree."""

import io
import json
import math

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raters.models import Membership
from tests.api.conftest import add_gold_pair, build_study
from tests.factories import (
    CandidateFactory,
    MembershipFactory,
    OutputFactory,
    PairFactory,
    PromptFactory,
    RaterFactory,
    StudyFactory,
    VoteFactory,
)

RESULT_ENDPOINTS = ("ranking", "pairwise", "agreement", "biases")
ODD_LABELS = (
    "$\\cmd$",
    "$\\frac{a}{b}$",
    "a $x$ b",
    "<b>bold</b>",
    "gpt-4o",
    "Ünïcødé 模型",
    "50% {x}",
)


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def analyze_file(path, **options) -> dict:
    args = [str(path)]
    for key, value in options.items():
        if value is not None:
            args += [f"--{key.replace('_', '-')}", str(value)]
    out = io.StringIO()
    call_command("analyze", *args, stdout=out)
    return json.loads(out.getvalue())


def assert_finite(value, where="document"):
    if isinstance(value, dict):
        for k, v in value.items():
            assert_finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for k, v in enumerate(value):
            assert_finite(v, f"{where}[{k}]")
    elif isinstance(value, float):
        assert math.isfinite(value), where


@pytest.mark.django_db
def test_api_ranking_and_analyze_on_its_export_give_the_same_document(api, voted_study, tmp_path):
    path = tmp_path / "votes.csv"
    path.write_bytes(body_of(api.get(f"/api/v1/studies/{voted_study.pk}/votes.csv")))
    for options in (
        {},
        {"bootstrap": 200, "seed": 7},
        {"ties": "davidson", "bootstrap": 50, "seed": 1},
    ):
        response = api.get(f"/api/v1/studies/{voted_study.pk}/ranking/", options)
        assert response.status_code == 200
        from_api = json.loads(body_of(response))
        from_file = analyze_file(path, **options)
        del from_api["summary"]["excluded_raters"]
        for key in ("agreement", "gold", "bias"):
            # The ranking endpoint leaves per-vote blocks to the agreement and biases endpoints.
            del from_api[key], from_file[key]
        assert json.dumps(from_api, sort_keys=True) == json.dumps(from_file, sort_keys=True)
        assert from_api["summary"]["raters"] == 4
        assert from_api["summary"]["items"] == 12


@pytest.mark.django_db
def test_agreement_endpoint_and_analyze_on_the_export_agree(api, voted_study, tmp_path):
    rater = Membership.objects.filter(study=voted_study).first().rater
    add_gold_pair(voted_study, rater, answer="a", choice="b")
    path = tmp_path / "votes.csv"
    path.write_bytes(body_of(api.get(f"/api/v1/studies/{voted_study.pk}/votes.csv")))
    from_api = json.loads(body_of(api.get(f"/api/v1/studies/{voted_study.pk}/agreement/")))
    from_file = analyze_file(path)
    # Equal up to the order of floating-point sums (rows come in another order).
    assert_close(from_api["agreement"], from_file["agreement"])
    assert from_api["gold"] == from_file["gold"]


def assert_close(left, right):
    if isinstance(left, dict):
        assert left.keys() == right.keys()
        for key in left:
            assert_close(left[key], right[key])
    elif isinstance(left, list):
        assert len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            assert_close(a, b)
    elif isinstance(left, float):
        assert left == pytest.approx(right, rel=1e-12, abs=1e-12)
    else:
        assert left == right


def small_study(owner, draw) -> object:
    """A random small study: 1-4 candidates, 1-4 prompts, 1-3 raters, 0-10 votes, each shape
    the issue names (separable, all ties, one rater, one vote, disconnected, huge lengths)."""
    shape = draw(st.sampled_from(["random", "separable", "ties", "disconnected", "one"]))
    n_models = draw(st.integers(1, 4)) if shape != "disconnected" else 4
    labels = draw(
        st.lists(
            st.one_of(
                st.sampled_from(ODD_LABELS),
                st.text(min_size=1, max_size=8).filter(
                    lambda s: s.strip() == s and s.strip() and "\x00" not in s
                ),
            ),
            min_size=n_models,
            max_size=n_models,
            unique=True,
        )
    )
    study = StudyFactory(owner=owner)
    candidates = [CandidateFactory(study=study, label=label) for label in labels]
    n_prompts = draw(st.integers(1, 3))
    raters = [RaterFactory() for _ in range(draw(st.integers(1, 3)))]
    for rater in raters:
        MembershipFactory(rater=rater, study=study)
    lengths = draw(st.sampled_from(["equal", "varied", "huge"]))
    prompts = []
    for p in range(n_prompts):
        prompt = PromptFactory(study=study, category=draw(st.sampled_from(["", "math", "x y"])))
        outputs = []
        for k, candidate in enumerate(candidates):
            size = {"equal": 40, "varied": 10 + 37 * k + p, "huge": 20_000 * (k + 1)}[lengths]
            outputs.append(
                OutputFactory(
                    prompt=prompt,
                    candidate=candidate,
                    text="w" * size,
                    cost_usd=draw(st.sampled_from([None, "0", "0.00000100", "0.0123"])),
                    latency_ms=draw(st.sampled_from([None, 0.0, 120.5])),
                )
            )
        prompts.append((prompt, outputs))
    if n_models < 2:
        return study
    n_votes = 1 if shape == "one" else draw(st.integers(0, 10))
    pairs, voted = {}, set()
    for v in range(n_votes):
        prompt, outputs = prompts[v % n_prompts]
        if shape == "disconnected":
            i, j = (0, 1) if v % 2 else (2, 3)
        else:
            i = draw(st.integers(0, n_models - 2))
            j = draw(st.integers(i + 1, n_models - 1))
        key = (prompt.pk, i, j)
        if key not in pairs:
            pairs[key] = PairFactory(
                study=study, prompt=prompt, output_a=outputs[i], output_b=outputs[j]
            )
        pair = pairs[key]
        choice = {
            "separable": "a",
            "ties": "tie",
        }.get(shape) or draw(st.sampled_from(["a", "b", "tie", "both_bad"]))
        rater = raters[v % len(raters)]
        if (pair.pk, rater.pk) in voted:
            continue
        voted.add((pair.pk, rater.pk))
        VoteFactory(
            pair=pair,
            rater=rater,
            choice=choice,
            left_output=pair.output_a if draw(st.booleans()) else pair.output_b,
        )
    return study


@pytest.mark.django_db(transaction=False)
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_small_study_gets_a_page_every_endpoint_and_analyze_without_errors(
    data, client, staff_user, tmp_path_factory
):
    study = small_study(staff_user, data.draw)
    options = {
        "ties": data.draw(st.sampled_from(["half", "davidson"])),
        "both_bad": data.draw(st.sampled_from(["tie", "exclude"])),
        "bootstrap": data.draw(st.sampled_from([0, 0, 30])),
        "seed": data.draw(st.sampled_from([None, 3])),
    }
    client.force_login(staff_user)
    page = client.get(f"/admin/evaluations/study/{study.pk}/results/")
    assert page.status_code == 200
    query = {k: v for k, v in options.items() if v is not None}
    for endpoint in RESULT_ENDPOINTS:
        response = client.get(f"/api/v1/studies/{study.pk}/{endpoint}/", query)
        assert response.status_code == 200, (endpoint, response.content[:300])
        assert_finite(json.loads(body_of(response)), endpoint)
    for endpoint in ("candidates", "outputs"):
        response = client.get(f"/api/v1/studies/{study.pk}/{endpoint}/")
        assert response.status_code == 200, (endpoint, response.content[:300])
    export = body_of(client.get(f"/api/v1/studies/{study.pk}/votes.csv"))
    if export.count(b"\n") > 1:
        path = tmp_path_factory.mktemp("votes") / "votes.csv"
        path.write_bytes(export)
        assert_finite(analyze_file(path, **options), "analyze")


@pytest.mark.django_db
def test_a_label_with_dollar_signs_renders_as_written(client, staff_user):
    study = build_study(staff_user, models=("$\\cmd$", "b$", "plain"), prompts=2, raters=1)
    client.force_login(staff_user)
    response = client.get(f"/admin/evaluations/study/{study.pk}/results/")
    assert response.status_code == 200
    assert "$\\cmd$" in response.content.decode()
