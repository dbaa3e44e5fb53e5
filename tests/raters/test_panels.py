"""Issue 20, crowd platforms: Prolific and generic panels, entry, resume, quota and completion."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raters.assignment import assignment_next
from raters.models import Panel, PanelParticipant, Rater
from raters.panels import participant_screen_out
from tests.raters.conftest import join, study_with_pairs

PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete"
PID, PROLIFIC_STUDY, SESSION = (
    "5f1a2b3c4d5e6f7a8b9c0d1e",
    "65a0b1c2d3e4f5a6b7c8d9e0",
    "66aa77bb88cc99dd00ee11ff",
)


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


def prolific_panel(**fields) -> Panel:
    study = fields.pop("study", None) or study_with_pairs(n_prompts=4, n_candidates=3)
    return Panel.objects.create(
        study=study,
        platform=Panel.Platform.PROLIFIC,
        external_study_id=PROLIFIC_STUDY,
        completion_url=PROLIFIC_COMPLETE,
        completion_code="C1A2B3C4",
        screenout_code="SCREENED9",
        **fields,
    )


def params(pid=PID, study=PROLIFIC_STUDY, session=SESSION) -> dict:
    return {"PROLIFIC_PID": pid, "STUDY_ID": study, "SESSION_ID": session}


def enter(client: Client, panel: Panel, data: dict):
    url = reverse("raters:panel_enter", args=[panel.key])
    start = client.get(url, data)
    if start.status_code != 200:
        return start
    return client.post(url, data)


def vote_shown(client: Client, panel: Panel):
    page = client.get(reverse("raters:study", args=[panel.study_id]))
    public_id = page.context["assignment"].pair.public_id
    return client.post(
        reverse("raters:vote", args=[panel.study_id]),
        {"pair": public_id, "choice": "A", "time_spent_ms": "5000"},
    )


@pytest.mark.django_db
def test_a_prolific_participant_starts_without_a_password_and_their_id_is_kept_only_hashed(client):
    panel = prolific_panel()
    start = client.get(reverse("raters:panel_enter", args=[panel.key]), params())
    assert start.status_code == 200 and b"Start" in start.content
    assert not PanelParticipant.objects.exists(), "a GET creates nothing"

    response = client.post(reverse("raters:panel_enter", args=[panel.key]), params())

    assert response.status_code == 302
    assert response["Location"] == reverse("raters:study", args=[panel.study_id])
    participant = PanelParticipant.objects.get()
    user = participant.rater.user
    assert not user.has_usable_password()
    stored = [user.username, participant.rater.display_name, participant.pseudonym,
              participant.session_digest]  # fmt: skip
    assert all(PID not in value and SESSION not in value for value in stored)
    assert client.get(reverse("raters:study", args=[panel.study_id])).status_code == 200


@pytest.mark.django_db
def test_the_same_ids_resume_the_same_rater(client):
    panel = prolific_panel()
    enter(client, panel, params())
    vote_shown(client, panel)
    again = Client()
    assert enter(again, panel, params()).status_code == 302
    assert Rater.objects.count() == 1 and get_user_model().objects.count() == 2  # + the owner
    page = again.get(reverse("raters:study", args=[panel.study_id]))
    assert page.context["progress"].voted == 1


@pytest.mark.django_db
def test_a_known_participant_id_in_another_session_cannot_take_over_their_rater(client):
    panel = prolific_panel()
    enter(client, panel, params())
    attacker = Client()
    response = enter(attacker, panel, params(session="aaaaaaaaaaaaaaaaaaaaaaaa"))
    assert response.status_code == 400
    assert b"another session" in response.content
    assert attacker.get(reverse("raters:study", args=[panel.study_id])).status_code == 302
    assert "_auth_user_id" not in attacker.session


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data, message",
    [
        ({"STUDY_ID": PROLIFIC_STUDY, "SESSION_ID": SESSION}, b"missing PROLIFIC_PID"),
        (params(pid=""), b"missing PROLIFIC_PID"),
        (params(session=""), b"missing SESSION_ID"),
        (params(pid="{{%PROLIFIC_PID%}}"), b"PROLIFIC_PID in the link is not valid"),
        (params(pid="x" * 65), b"PROLIFIC_PID in the link is not valid"),
        (params(study="000000000000000000000000"), b"belongs to another study"),
    ],
)
def test_forged_or_missing_parameters_are_refused_with_a_clear_reason(client, data, message):
    panel = prolific_panel()
    response = enter(client, panel, data)
    assert response.status_code == 400
    assert message in response.content
    assert not PanelParticipant.objects.exists()


@pytest.mark.django_db
def test_a_post_with_forged_ids_is_checked_like_the_link(client):
    panel = prolific_panel()
    url = reverse("raters:panel_enter", args=[panel.key])
    response = client.post(url, params(study="000000000000000000000000"))
    assert response.status_code == 400 and not PanelParticipant.objects.exists()


@pytest.mark.django_db
def test_an_unknown_panel_key_a_closed_study_and_a_disabled_panel_admit_nobody(client):
    panel = prolific_panel()
    assert client.get(reverse("raters:panel_enter", args=["nope"]), params()).status_code == 404
    Panel.objects.filter(pk=panel.pk).update(enabled=False)
    assert enter(client, panel, params()).status_code == 400
    Panel.objects.filter(pk=panel.pk).update(enabled=True)
    panel.study.status = "closed"
    panel.study.save()
    assert enter(client, panel, params()).status_code == 400


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.dictionaries(
    st.sampled_from(["PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "next", "cc"]),
    st.text(max_size=80),
))  # fmt: skip
def test_no_query_string_gets_a_server_error(data):
    cache.clear()
    panel = Panel.objects.first() or prolific_panel()
    clean = {k: v.replace("\x00", "") for k, v in data.items()}
    response = enter(Client(), panel, clean)
    assert response.status_code in (302, 400)


@pytest.mark.django_db
def test_the_pair_quota_ends_the_session_and_finishing_redirects_to_prolific_with_the_code(client):
    panel = prolific_panel(max_pairs=2)
    enter(client, panel, params())
    finish = reverse("raters:panel_finish", args=[panel.key])
    vote_shown(client, panel)
    assert client.post(finish).status_code == 302, "too early: back to voting"
    assert client.post(finish)["Location"] == reverse("raters:study", args=[panel.study_id])
    vote_shown(client, panel)

    page = client.get(reverse("raters:study", args=[panel.study_id]))
    assert page.context["assignment"] is None and page.context["quota_reached"]
    assert finish.encode() in page.content

    response = client.post(finish, {"next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == f"{PROLIFIC_COMPLETE}?cc=C1A2B3C4"
    assert "app.prolific.com" in response.headers.get("Content-Security-Policy", "")
    assert PanelParticipant.objects.get().state == PanelParticipant.State.COMPLETED
    # Replaying the link afterwards: no more voting, straight to the code.
    replay = enter(Client(), panel, params())
    assert replay["Location"] == finish


@pytest.mark.django_db
def test_the_minutes_quota_ends_the_session(client):
    panel = prolific_panel(max_minutes=20)
    enter(client, panel, params())
    assert client.get(reverse("raters:study", args=[panel.study_id])).context["assignment"]
    PanelParticipant.objects.update(started_at=timezone.now() - timedelta(minutes=21))
    enter(client, panel, params())  # the quota is read when the session starts
    page = client.get(reverse("raters:study", args=[panel.study_id]))
    assert page.context["quota_reached"] and page.context["assignment"] is None
    response = client.post(reverse("raters:panel_finish", args=[panel.key]))
    assert response["Location"].endswith("cc=C1A2B3C4")


@pytest.mark.django_db
def test_a_screened_out_participant_gets_the_screen_out_code(client):
    panel = prolific_panel()
    enter(client, panel, params())
    participant_screen_out(participant=PanelParticipant.objects.get())
    response = client.post(reverse("raters:panel_finish", args=[panel.key]))
    assert response["Location"] == f"{PROLIFIC_COMPLETE}?cc=SCREENED9"


@pytest.mark.django_db
def test_a_generic_panel_takes_its_own_id_parameter_and_shows_an_mturk_style_code(client):
    study = study_with_pairs(n_prompts=1, n_candidates=2)
    panel = Panel.objects.create(
        study=study, platform=Panel.Platform.GENERIC, id_param="workerId",
        completion_code="MTURK-7731", max_pairs=1,
    )  # fmt: skip
    assert enter(client, panel, {"PROLIFIC_PID": PID}).status_code == 400
    assert enter(client, panel, {"workerId": "A1B2C3D4E5"}).status_code == 302
    vote_shown(client, panel)
    finish = reverse("raters:panel_finish", args=[panel.key])
    response = client.post(finish)
    assert response.status_code == 200
    assert b"MTURK-7731" in response.content
    assert client.get(finish).content.count(b"MTURK-7731") == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["http://app.prolific.com/x", "javascript:alert(1)", "https://u:p@evil.example/"]
)
def test_only_an_https_completion_url_can_be_configured(url):
    panel = prolific_panel()
    panel.completion_url = url
    with pytest.raises(ValidationError):
        panel.full_clean()


@pytest.mark.django_db
def test_one_participant_cannot_finish_as_another_nor_for_another_panel():
    panel = prolific_panel(max_pairs=1)
    other_panel = prolific_panel(max_pairs=1)
    first = Client()
    enter(first, panel, params())
    second = Client()
    enter(second, other_panel, params(pid="bbbbbbbbbbbbbbbbbbbbbbbb"))
    assert first.post(reverse("raters:panel_finish", args=[other_panel.key])).status_code == 404
    invited = Client()
    invited.force_login(join(panel.study).user)
    assert invited.get(reverse("raters:panel_finish", args=[panel.key])).status_code == 404


@pytest.mark.django_db
def test_entering_without_the_csrf_token_is_refused():
    panel = prolific_panel()
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("raters:panel_enter", args=[panel.key]), params())
    assert response.status_code == 403
    assert not PanelParticipant.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_panel_vote_and_the_next_pair_take_no_more_queries_than_an_invited_raters(
    client, django_assert_max_num_queries
):
    from tests.raters.test_capacity import MAX_QUERIES_VOTE_AND_NEXT_PAIR

    panel = prolific_panel(
        study=study_with_pairs(n_prompts=30, n_candidates=4, votes_per_pair=3), max_pairs=50
    )
    enter(client, panel, params())
    rater = PanelParticipant.objects.get().rater
    for choice in ("A", "B", "tie"):
        public_id = assignment_next(rater=rater, study=panel.study).pair.public_id
        with django_assert_max_num_queries(MAX_QUERIES_VOTE_AND_NEXT_PAIR):
            response = client.post(
                reverse("raters:vote", args=[panel.study_id]),
                {"pair": public_id, "choice": choice, "time_spent_ms": "4000"},
                headers={"X-Requested-With": "fetch"},
            )
        assert b"Vote recorded." in response.content and b'name="pair"' in response.content
