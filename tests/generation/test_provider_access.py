"""No server secret or key leaves for a host the operator did not approve (issue 14, part 1).

The stub server on 127.0.0.1 plays the attacker's server: every header of every request it
receives is recorded, so a secret that reached it would be seen.
"""

import asyncio

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from evaluations.generation.errors import GenerationError
from evaluations.generation.runner import outputs_generate
from evaluations.generation.starting import generation_start, outputs_create
from evaluations.models import Candidate, Output, ProviderConnection
from evaluations.providers.outbound import OutboundRefused, outbound_url_check
from research.reevaluation.clones import CloneError, study_clone
from tests.factories import CandidateFactory, PromptFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db

SECRET = "the-real-secret-key-never-to-leave"
OPENAI_KEY = "sk-operators-own-openai-key"


@pytest.fixture
def researcher(db):
    return UserFactory(is_staff=True, is_superuser=False)


@pytest.fixture
def researcher_study(researcher):
    return StudyFactory(owner=researcher)


@pytest.fixture
def secrets_in_env(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("DATABASE_URL", "postgres://tastetest:db-password-xyz@127.0.0.1:5432/tt")
    return {"SECRET_KEY": SECRET, "OPENAI_API_KEY": OPENAI_KEY, "DATABASE_URL": "db-password-xyz"}


def generate(candidate: Candidate) -> Output:
    prompt = PromptFactory(study=candidate.study, text="Why is the sky blue?")
    outputs_create(study=candidate.study)
    output = Output.objects.get(prompt=prompt, candidate=candidate)
    outputs_generate(output_ids=[output.pk])
    output.refresh_from_db()
    return output


def headers_seen(stub) -> str:
    return "\n".join(f"{k}: {v}" for headers in stub.received_headers for k, v in headers.items())


# -- keys: refused when saved ---------------------------------------------------------------


@pytest.mark.parametrize("variable", ["SECRET_KEY", "DATABASE_URL", "AWS_SECRET_ACCESS_KEY"])
def test_saving_a_candidate_with_a_server_secret_as_its_key_is_refused(
    researcher_study, openai_stub, variable
):
    candidate = Candidate(
        study=researcher_study,
        label="Exfiltrator",
        model="openai/gpt-4o",
        api_key_env=variable,
    )
    with pytest.raises(ValidationError) as refused:
        candidate.full_clean()
    assert "PROVIDER_KEY_ENV_ALLOWLIST" in str(refused.value.message_dict["api_key_env"])


def test_even_a_superusers_candidate_may_not_name_a_server_secret(study):
    candidate = Candidate(study=study, label="X", model="openai/gpt-4o", api_key_env="SECRET_KEY")
    with pytest.raises(ValidationError, match="PROVIDER_KEY_ENV_ALLOWLIST"):
        candidate.full_clean()


def test_a_server_secret_hidden_in_a_fallback_is_refused(study):
    candidate = Candidate(
        study=study,
        label="X",
        model="openai/gpt-4o",
        fallback_deployments=[{"api_base": "https://example.org/v1", "api_key_env": "SECRET_KEY"}],
    )
    with pytest.raises(ValidationError) as refused:
        candidate.full_clean()
    assert "fallback 1" in str(refused.value.message_dict["fallback_deployments"])


def test_provider_key_variables_and_the_tastetest_prefix_are_allowed(researcher_study):
    for variable in ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "TASTETEST_KEY_TEAM_A", ""]:
        Candidate(
            study=researcher_study, label=variable or "default", model="openai/x",
            api_key_env=variable,
        ).full_clean()  # fmt: skip


@given(variable=st.from_regex(r"[A-Z][A-Z0-9_]{0,30}", fullmatch=True))
@hypothesis_settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_variable_off_the_allowlist_is_never_accepted(researcher_study, variable):
    from evaluations.providers.access import key_env_allowed

    candidate = Candidate(study=researcher_study, label="h", model="openai/x", api_key_env=variable)
    if key_env_allowed(variable):
        candidate.full_clean()
    else:
        with pytest.raises(ValidationError):
            candidate.full_clean()


# -- keys: refused again at call time (rows saved before the rules, or forced) ---------------


@pytest.mark.parametrize("variable", ["SECRET_KEY", "DATABASE_URL"])
@pytest.mark.parametrize("owner_is_superuser", [False, True])
def test_a_forced_row_naming_a_server_secret_is_refused_at_call_time_and_nothing_leaves(
    openai_stub, secrets_in_env, variable, owner_is_superuser, settings
):
    settings.ALLOW_CUSTOM_API_BASE = True
    owner = UserFactory(is_staff=True, is_superuser=owner_is_superuser)
    candidate = CandidateFactory(  # straight into the database, no clean()
        study=StudyFactory(owner=owner),
        model="openai/attacker",
        api_base=openai_stub.base_url,
        api_key_env=variable,
    )
    output = generate(candidate)
    assert output.status == Output.Status.FAILED
    assert "PROVIDER_KEY_ENV_ALLOWLIST" in output.last_error
    assert output.attempts <= 1
    assert openai_stub.received_headers == []
    assert secrets_in_env[variable] not in headers_seen(openai_stub)


def test_starting_generation_names_the_rule_before_anything_is_queued(
    researcher_study, openai_stub, secrets_in_env
):
    CandidateFactory(
        study=researcher_study, api_base=openai_stub.base_url, api_key_env="SECRET_KEY"
    )
    PromptFactory(study=researcher_study)
    with pytest.raises(GenerationError, match="PROVIDER_KEY_ENV_ALLOWLIST"):
        generation_start(study=researcher_study)
    assert not Output.objects.filter(prompt__study=researcher_study).exists()


# -- api_base: the provider's default key never goes to a host nobody approved --------------


def test_a_custom_api_base_is_refused_to_a_researcher_by_default(researcher_study, openai_stub):
    candidate = Candidate(
        study=researcher_study, label="Mine", model="openai/mine", api_base=openai_stub.base_url
    )
    with pytest.raises(ValidationError) as refused:
        candidate.full_clean()
    assert "ALLOW_CUSTOM_API_BASE" in str(refused.value.message_dict["api_base"])


def test_an_unapproved_api_base_never_receives_the_default_openai_key(
    researcher_study, openai_stub, secrets_in_env, settings
):
    settings.ALLOW_CUSTOM_API_BASE = True  # researchers may use their own endpoints...
    candidate = Candidate(
        study=researcher_study, label="Mine", model="openai/mine", api_base=openai_stub.base_url
    )
    candidate.full_clean()
    candidate.save()
    output = generate(candidate)
    assert output.status == Output.Status.DONE  # ...which are called, without the server's key
    assert len(openai_stub.requests_for("mine")) == 1
    assert OPENAI_KEY not in headers_seen(openai_stub)
    assert openai_stub.requests[0].headers["authorization"] == "Bearer tastetest-no-key"


def test_a_forced_unapproved_api_base_is_refused_at_call_time(
    researcher_study, openai_stub, secrets_in_env
):
    candidate = CandidateFactory(study=researcher_study, model="openai/mine",
                                 api_base=openai_stub.base_url)  # fmt: skip
    output = generate(candidate)
    assert output.status == Output.Status.FAILED
    assert "ALLOW_CUSTOM_API_BASE" in output.last_error
    assert openai_stub.received_headers == []


def test_an_allowed_key_may_not_go_to_a_researchers_own_api_base(
    researcher_study, openai_stub, secrets_in_env, settings
):
    settings.ALLOW_CUSTOM_API_BASE = True
    fields = {"model": "openai/mine", "api_base": openai_stub.base_url,
              "api_key_env": "OPENAI_API_KEY"}  # fmt: skip
    with pytest.raises(ValidationError, match="may not be sent to a custom api_base"):
        Candidate(study=researcher_study, label="Mine", **fields).full_clean()
    output = generate(CandidateFactory(study=researcher_study, **fields))
    assert output.status == Output.Status.FAILED
    assert "may not be sent to a custom api_base" in output.last_error
    assert OPENAI_KEY not in headers_seen(openai_stub)
    assert openai_stub.received_headers == []


def test_a_superuser_may_point_a_candidate_at_an_endpoint_with_a_key(
    study, openai_stub, stub_candidate
):
    output = generate(stub_candidate(study, "approved"))
    assert output.status == Output.Status.DONE
    assert openai_stub.requests[0].headers["authorization"] == "Bearer sk-stub"


# -- provider connections -------------------------------------------------------------------


@pytest.fixture
def team_connection(openai_stub, researcher):
    connection = ProviderConnection.objects.create(
        name="team-vllm", api_base=openai_stub.base_url, api_key_env="STUB_API_KEY"
    )
    connection.users.add(researcher)
    return connection


def test_a_researcher_uses_a_connection_granted_to_them(
    researcher_study, team_connection, openai_stub, settings
):
    settings.OUTBOUND_ALLOWED_HOSTS = []  # the operator approved the connection's host itself
    candidate = Candidate(
        study=researcher_study, label="Team", model="openai/team", connection="team-vllm"
    )
    candidate.full_clean()
    candidate.save()
    output = generate(candidate)
    assert output.status == Output.Status.DONE, output.last_error
    assert output.deployment == "connection team-vllm"
    assert openai_stub.requests[0].headers["authorization"] == "Bearer sk-stub"


def test_a_connection_not_granted_is_refused_when_saved_and_when_called(
    team_connection, openai_stub
):
    other = StudyFactory(owner=UserFactory(is_staff=True))
    with pytest.raises(ValidationError, match="not available to the study's owner"):
        Candidate(study=other, label="T", model="openai/team", connection="team-vllm").full_clean()
    output = generate(CandidateFactory(study=other, model="openai/team", connection="team-vllm"))
    assert output.status == Output.Status.FAILED
    assert "not available to the study's owner" in output.last_error
    assert openai_stub.received_headers == []


def test_a_connection_declared_in_settings_is_available_to_everyone(
    researcher_study, openai_stub, settings
):
    settings.PROVIDER_CONNECTIONS = [
        {"name": "shared", "api_base": openai_stub.base_url, "api_key_env": "STUB_API_KEY"}
    ]
    candidate = Candidate(
        study=researcher_study, label="S", model="openai/shared", connection="shared"
    )
    candidate.full_clean()
    candidate.save()
    assert generate(candidate).status == Output.Status.DONE


def test_a_connection_with_a_server_secret_as_its_key_is_refused(openai_stub):
    connection = ProviderConnection(name="bad", api_base=openai_stub.base_url,
                                    api_key_env="SECRET_KEY")  # fmt: skip
    with pytest.raises(ValidationError, match="PROVIDER_KEY_ENV_ALLOWLIST"):
        connection.full_clean()


def test_a_connection_and_a_free_api_base_at_once_are_refused(study, team_connection):
    candidate = Candidate(
        study=study, label="Both", model="openai/x", connection="team-vllm",
        api_base="https://example.org/v1",
    )  # fmt: skip
    with pytest.raises(ValidationError, match="not both"):
        candidate.full_clean()


# -- where the worker may send requests at all ----------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata: link-local
        "http://10.0.0.5:8000/v1",
        "http://192.168.1.1/v1",
        "http://[::1]:8000/v1",
        "http://[fe80::1]/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "http://0.0.0.0:6379/",
        "http://100.64.0.1/v1",
    ],
)
def test_non_public_addresses_are_refused_unless_allowed(url, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    with pytest.raises(OutboundRefused, match="OUTBOUND_ALLOWED_HOSTS"):
        asyncio.run(outbound_url_check(url))
    settings.OUTBOUND_ALLOW_PRIVATE = True
    asyncio.run(outbound_url_check(url))


def test_a_host_name_is_resolved_before_it_is_called(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    with pytest.raises(OutboundRefused, match="loopback"):
        asyncio.run(outbound_url_check("http://localhost:11434/v1"))
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.0/8", "::1"]
    asyncio.run(outbound_url_check("http://localhost:11434/v1"))


def test_a_link_local_api_base_fails_the_output_at_once_without_a_retry(study, settings):
    settings.GENERATION_TIMEOUT_SECONDS = 1
    candidate = CandidateFactory(study=study, api_base="http://169.254.169.254/v1")
    output = generate(candidate)
    assert output.status == Output.Status.FAILED
    assert output.attempts == 1
    assert "link-local" in output.last_error and "OUTBOUND_ALLOWED_HOSTS" in output.last_error


def test_a_loopback_api_base_is_refused_unless_loopback_is_allowed(
    study, stub_candidate, openai_stub, settings
):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    output = generate(stub_candidate(study, "internal"))
    assert output.status == Output.Status.FAILED
    assert "loopback" in output.last_error
    assert openai_stub.received_headers == []


def test_a_clone_for_another_owner_does_not_carry_a_superusers_endpoint_key(
    study, stub_candidate, researcher
):
    stub_candidate(study, "one")
    stub_candidate(study, "two")
    with pytest.raises(CloneError, match="may not be sent to a custom api_base|ALLOW_CUSTOM"):
        study_clone(study=study, name="Copy", slug="copy", owner=researcher)


def test_a_clone_may_not_add_a_candidate_with_a_server_secret(study, stub_candidate):
    stub_candidate(study, "one")
    stub_candidate(study, "two")
    add = [{"label": "Leak", "model": "openai/x", "api_key_env": "DATABASE_URL"}]
    with pytest.raises(CloneError, match="PROVIDER_KEY_ENV_ALLOWLIST"):
        study_clone(study=study, name="Copy", slug="copy", add=add)


@pytest.mark.parametrize(
    "param",
    ["vertex_location", "aws_region_name", "aws_bedrock_runtime_endpoint", "azure_endpoint"],
)
def test_extra_params_may_not_choose_a_host_or_credentials(study, param):
    CandidateFactory(
        study=study, model="vertex_ai/gemini-pro", extra_params={param: "x.attacker.example/#"}
    )
    PromptFactory(study=study)
    with pytest.raises(GenerationError, match=param):
        generation_start(study=study)


@given(address=st.ip_addresses())
@hypothesis_settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_non_public_address_is_ever_called_unless_allowed(address, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    settings.OUTBOUND_ALLOW_PRIVATE = False
    host = f"[{address}]" if address.version == 6 else str(address)
    plain = address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address
    if plain.is_global and not plain.is_multicast and not plain.is_reserved:
        asyncio.run(outbound_url_check(f"http://{host}:8000/v1"))
    else:
        with pytest.raises(OutboundRefused):
            asyncio.run(outbound_url_check(f"http://{host}:8000/v1"))


def test_an_allowed_key_variable_that_is_not_set_fails_fast_with_its_name(
    study, stub_candidate, openai_stub, monkeypatch
):
    monkeypatch.delenv("TASTETEST_KEY_NOT_SET", raising=False)
    output = generate(stub_candidate(study, "unset", api_key_env="TASTETEST_KEY_NOT_SET"))
    assert output.status == Output.Status.FAILED
    assert "TASTETEST_KEY_NOT_SET is not set" in output.last_error
    assert openai_stub.received_headers == []
