"""Researcher accounts: the Researchers group made by a migration, and `create_researcher`."""

import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from evaluations.models import Study
from tests.factories import StudyFactory

pytestmark = pytest.mark.django_db

RESEARCHER_PERMISSIONS = {
    *(f"evaluations.{a}_{m}" for m in ("study", "candidate", "prompt", "judge") for a in
      ("add", "change", "delete", "view")),
    "evaluations.change_output", "evaluations.view_output", "evaluations.view_pair",
    "evaluations.view_judgevote",
    *(f"raters.{a}_invite" for a in ("add", "change", "delete", "view")),
    "raters.view_rater", "raters.change_membership", "raters.delete_membership",
    "raters.view_membership", "raters.delete_vote", "raters.view_vote", "raters.view_assignment",
    *(f"raters.{a}_panel" for a in ("add", "change", "delete", "view")),
    "raters.view_panelparticipant",
}  # fmt: skip


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_researchers_group_holds_exactly_what_a_researcher_needs():
    group = Group.objects.get(name="Researchers")
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    assert granted == RESEARCHER_PERMISSIONS


def test_create_researcher_without_input_prints_a_password_that_signs_in():
    out = io.StringIO()
    call_command("create_researcher", "ada", "--email", "ada@example.org", "--no-input", stdout=out)
    password = out.getvalue().split("Password: ")[1].strip()
    user = authenticate(username="ada", password=password)
    assert user is not None
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["Researchers"]
    assert user.email == "ada@example.org"
    assert len(password) >= 20


def test_create_researcher_asks_again_when_the_passwords_differ(monkeypatch):
    answers = iter(
        ["first one here 42", "another one 42", "a fine passphrase 42", "a fine passphrase 42"]
    )
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    err = io.StringIO()
    call_command("create_researcher", "grace", stdout=io.StringIO(), stderr=err)
    assert "did not match" in err.getvalue()
    assert authenticate(username="grace", password="a fine passphrase 42") is not None


def test_create_researcher_refuses_a_weak_password_three_times_then_stops(monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "123")
    with pytest.raises(CommandError, match="too short|too common|entirely numeric"):
        call_command("create_researcher", "weak", stdout=io.StringIO(), stderr=io.StringIO())
    assert not get_user_model().objects.filter(username="weak").exists()


def test_create_researcher_refuses_an_existing_username_before_asking(monkeypatch):
    call_command("create_researcher", "ada", "--no-input", stdout=io.StringIO())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("asked for a password"))
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_researcher", "ada", stdout=io.StringIO())
    assert get_user_model().objects.filter(username="ada").count() == 1


def test_a_new_researcher_runs_their_own_study_in_the_admin_and_reaches_nothing_else():
    out = io.StringIO()
    call_command("create_researcher", "ada", "--no-input", stdout=out)
    client = Client()
    password = out.getvalue().split("Password: ")[1].strip()
    assert client.login(username="ada", password=password)
    theirs = StudyFactory(name="Someone else's study")
    form = {
        "name": "Mine", "slug": "mine", "status": "draft", "question": "Which is better?",
        "votes_per_pair": "3", "seed": "1", "pairing_mode": "all", "gold_rate": "0",
        "gold_min_accuracy": "0.7", "training_pairs": "0",
        "judge_prompt_template": "{question} {answer_a} {answer_b}",
        **{f"{p}-{k}": "0" for p in ("candidates", "prompts", "judges")
           for k in ("TOTAL_FORMS", "INITIAL_FORMS")},
    }  # fmt: skip
    assert client.post(reverse("admin:evaluations_study_add"), form).status_code == 302
    mine = Study.objects.get(slug="mine")
    assert mine.owner.username == "ada"
    upload = io.BytesIO(b"id,text\nq1,What is two plus two?\n")
    upload.name = "prompts.csv"
    imported = client.post(
        reverse("admin:evaluations_study_import_prompts", args=[mine.pk]), {"file": upload}
    )
    assert imported.status_code == 302
    assert mine.prompts.count() == 1
    assert client.get(reverse("admin:evaluations_study_results", args=[mine.pk])).status_code == 200
    listing = client.get(reverse("admin:evaluations_study_changelist")).content.decode()
    assert "Mine" in listing and theirs.name not in listing
    assert (
        client.get(reverse("admin:evaluations_study_change", args=[theirs.pk])).status_code == 404
    )
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert client.get(reverse("admin:authtoken_tokenproxy_changelist")).status_code == 403
