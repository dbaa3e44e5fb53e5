"""Schemathesis over the whole results API, as a researcher: no 5xx, and every response
matches the OpenAPI schema the API publishes."""

from collections.abc import Iterator

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from evaluations.models import Study
from tests.factories import (
    CandidateFactory,
    MembershipFactory,
    OutputFactory,
    PairFactory,
    PromptFactory,
    StudyFactory,
    UserFactory,
    VoteFactory,
)

# No 5xx, and responses as documented. Not "schema-valid requests are accepted": a query value
# such as `anchor` is a free string in the schema but must name a candidate, so a 400 for a
# generated one is the right answer.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def researcher_token(db) -> str:
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_study"))
    for slug in ("fuzz-a", "fuzz-b"):
        study = StudyFactory(owner=user, slug=slug, status=Study.Status.OPEN)
        candidates = [CandidateFactory(study=study, label=f"m{k}") for k in range(3)]
        raters = [MembershipFactory(study=study).rater for _ in range(3)]
        for k in range(4):
            prompt = PromptFactory(study=study, category="math" if k % 2 else "prose")
            outputs = [OutputFactory(prompt=prompt, candidate=c) for c in candidates]
            for i, j in ((0, 1), (0, 2), (1, 2)):
                pair = PairFactory(
                    study=study, prompt=prompt, output_a=outputs[i], output_b=outputs[j]
                )
                for n, rater in enumerate(raters):
                    VoteFactory(
                        pair=pair, rater=rater, choice="ab"[(n + k) % 2], time_spent_ms=1000
                    )
    return Token.objects.create(user=user).key


@pytest.fixture
def wsgi_app() -> Iterator[WSGIHandler]:
    # As Django's test client does: a request must not close the test's own connection, whose
    # open transaction holds the data above.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_api_never_fails_and_always_answers_as_its_schema_says(researcher_token, wsgi_app):
    auth = {"Authorization": f"Token {researcher_token}"}
    study_ids = list(Study.objects.order_by("pk").values_list("pk", flat=True))
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app, headers=auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # the whole API, not an empty schema

    for operation in operations:

        @given(case=operation.as_strategy(), real=st.booleans())
        @settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Case, real: bool) -> None:
            if real and case.path_parameters:
                # Half the examples aim at the real studies, so that the generated query
                # parameters reach the analysis instead of stopping at a 404.
                for name, value in zip(("study_id", "other_id"), study_ids, strict=True):
                    if name in case.path_parameters:
                        case.path_parameters[name] = value
            case.call_and_validate(headers=auth, checks=CHECKS)

        fuzz()
