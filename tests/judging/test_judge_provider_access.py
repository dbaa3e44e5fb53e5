"""Judges obey the same provider rules as candidates: no server secret or key leaves for a host
the operator did not approve. The judge stub on 127.0.0.1 plays the attacker's server."""

import pytest
from django.core.exceptions import ValidationError

from evaluations.models import Judge, JudgeVote, ProviderConnection
from research.judging.runner import judge_votes_create, judge_votes_run, judging_start
from research.judging.verdicts import JudgingError
from tests.factories import JudgeFactory, UserFactory

pytestmark = pytest.mark.django_db

SECRET = "the-real-secret-key-never-to-leave"
OPENAI_KEY = "sk-operators-own-openai-key"


@pytest.fixture
def secrets_in_env(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("DATABASE_URL", "postgres://tastetest:db-password-xyz@127.0.0.1:5432/tt")


@pytest.fixture
def researcher_owned(judged_study):
    """The judged study, handed to a researcher who is not a superuser."""
    judged_study.owner = UserFactory(is_staff=True, is_superuser=False)
    judged_study.save()
    return judged_study


def run_judge(judge: Judge) -> list[JudgeVote]:
    judge_votes_create(study=judge.study, judges=[judge])
    ids = list(JudgeVote.objects.filter(judge=judge).values_list("id", flat=True))
    judge_votes_run(judge_vote_ids=ids)
    return list(JudgeVote.objects.filter(judge=judge))


def headers_seen(stub) -> str:
    return "\n".join(f"{k}: {v}" for headers in stub.received_headers for k, v in headers.items())


@pytest.mark.parametrize("variable", ["SECRET_KEY", "DATABASE_URL"])
def test_saving_a_judge_with_a_server_secret_as_its_key_is_refused(researcher_owned, variable):
    judge = Judge(study=researcher_owned, model="openai/judge", api_key_env=variable)
    with pytest.raises(ValidationError) as refused:
        judge.full_clean()
    assert "PROVIDER_KEY_ENV_ALLOWLIST" in str(refused.value.message_dict["api_key_env"])


@pytest.mark.parametrize("variable", ["SECRET_KEY", "DATABASE_URL"])
def test_a_forced_judge_row_naming_a_server_secret_sends_nothing(
    judged_study, judge_stub, secrets_in_env, variable
):
    judge = JudgeFactory(  # straight into the database, no clean()
        study=judged_study, model="openai/fair", api_base=judge_stub.base_url,
        api_key_env=variable,
    )  # fmt: skip
    votes = run_judge(judge)
    assert {v.status for v in votes} == {JudgeVote.Status.FAILED}
    assert all("PROVIDER_KEY_ENV_ALLOWLIST" in v.last_error for v in votes)
    assert judge_stub.received_headers == []
    assert SECRET not in headers_seen(judge_stub)
    assert "db-password-xyz" not in headers_seen(judge_stub)


def test_starting_judges_with_a_server_secret_names_the_rule(judged_study, judge_stub):
    JudgeFactory(study=judged_study, api_base=judge_stub.base_url, api_key_env="SECRET_KEY")
    with pytest.raises(JudgingError, match="PROVIDER_KEY_ENV_ALLOWLIST"):
        judging_start(study=judged_study)


def test_an_unapproved_judge_api_base_never_receives_the_default_openai_key(
    researcher_owned, judge_stub, secrets_in_env, settings
):
    settings.ALLOW_CUSTOM_API_BASE = True
    judge = Judge(study=researcher_owned, model="openai/fair", api_base=judge_stub.base_url)
    judge.full_clean()
    judge.save()
    votes = run_judge(judge)
    assert {v.status for v in votes} == {JudgeVote.Status.DONE}
    assert judge_stub.received_headers
    assert OPENAI_KEY not in headers_seen(judge_stub)


def test_a_researchers_judge_may_not_use_a_free_api_base_by_default(
    researcher_owned, judge_stub, secrets_in_env
):
    with pytest.raises(ValidationError, match="ALLOW_CUSTOM_API_BASE"):
        Judge(
            study=researcher_owned, model="openai/fair", api_base=judge_stub.base_url
        ).full_clean()
    votes = run_judge(
        JudgeFactory(study=researcher_owned, model="openai/fair", api_base=judge_stub.base_url)
    )
    assert {v.status for v in votes} == {JudgeVote.Status.FAILED}
    assert judge_stub.received_headers == []


def test_a_judge_on_a_private_address_is_refused_unless_allowed(
    judged_study, stub_judge, judge_stub, settings
):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    votes = run_judge(stub_judge(judged_study, "fair"))
    assert {v.status for v in votes} == {JudgeVote.Status.FAILED}
    assert all("loopback" in v.last_error and v.attempts == 1 for v in votes)
    assert judge_stub.received_headers == []


def test_a_judge_uses_a_connection_granted_to_its_owner(researcher_owned, judge_stub):
    connection = ProviderConnection.objects.create(
        name="judges", api_base=judge_stub.base_url, api_key_env="STUB_API_KEY"
    )
    connection.users.add(researcher_owned.owner)
    judge = Judge(study=researcher_owned, model="openai/fair", connection="judges")
    judge.full_clean()
    judge.save()
    votes = run_judge(judge)
    assert {v.status for v in votes} == {JudgeVote.Status.DONE}
    assert {h["authorization"] for h in judge_stub.received_headers} == {"Bearer sk-stub"}
