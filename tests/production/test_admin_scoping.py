"""The admin is scoped to the study's owner: every admin URL x every role.

The URLs come from the URL conf (the admin site's patterns, custom views included), each filled
with an object of the owner's study, so a new admin page is checked without anyone listing it.
The researchers hold every `evaluations` and `raters` permission, as in the attack of issue 14:
scoping must hold whatever model permissions a researcher has.
"""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from evaluations.admin_base.scoping import StudyScopedAdminMixin
from evaluations.models import Candidate, Output, Pair, Prompt, ProviderConnection, Study
from evaluations.studies.access import is_study_scoped
from raters.models import Adjudication, Assignment, Invite, Membership, Panel, Rater, Vote
from tests.factories import (
    CandidateFactory,
    InviteFactory,
    JudgeFactory,
    JudgeVoteFactory,
    MembershipFactory,
    OutputFactory,
    PairFactory,
    PromptFactory,
    RaterFactory,
    StudyFactory,
    UserFactory,
    VoteFactory,
)

# Written into every object of the owner's study: no page the other researcher gets may show it.
MARKER = "Zanzibar"
ROLES = ("anonymous", "rater", "other", "owner", "superuser")
ADMIN_LOGIN = "admin-login"
# Views that only accept POST; a GET is refused before anything is looked up.
POST_ONLY = {"generate", "retry_failed", "build_pairs", "transition", "take_over"}
NOT_CHECKED = {"admin:login", "admin:logout", "admin:password_change", "admin:password_change_done"}


def admin_patterns(
    resolver: URLResolver | None = None, prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, URLPattern]]:
    """(name, route prefix, pattern) of every URL under admin/, from the URL conf."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace or "") if part)
            yield from admin_patterns(entry, route, inner)
        elif namespace == "admin":
            yield f"admin:{entry.name}" if entry.name else "", prefix, entry


def _researcher() -> object:
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label__in=["evaluations", "raters"])
    )
    return user


def _study_objects(owner, *, name: str) -> dict[type[Model], Model]:
    study = StudyFactory(owner=owner, name=f"{name} study", slug=name.lower())
    candidate = CandidateFactory(study=study, label=f"{name}-label", model=f"openai/{name}-m")
    prompt = PromptFactory(study=study, external_id=f"{name}-q", text=f"{name} question?")
    outputs = [
        OutputFactory(prompt=prompt, candidate=c, text=f"{name} raw answer")
        for c in (candidate, CandidateFactory(study=study, label=f"{name}-second"))
    ]
    pair = PairFactory(study=study, prompt=prompt, output_a=outputs[0], output_b=outputs[1])
    rater = RaterFactory(display_name=f"{name} rater")
    membership = MembershipFactory(study=study, rater=rater)
    judge = JudgeFactory(study=study, model=f"openai/{name}-judge")
    return {
        Study: study,
        Candidate: candidate,
        Prompt: prompt,
        Output: outputs[0],
        Pair: pair,
        apps.get_model("evaluations", "Judge"): judge,
        apps.get_model("evaluations", "JudgeVote"): JudgeVoteFactory(judge=judge, pair=pair),
        Rater: rater,
        Membership: membership,
        Invite: InviteFactory(study=study, note=f"{name} invite"),
        Panel: Panel.objects.create(study=study, completion_code=f"{name}-code"),
        Vote: VoteFactory(pair=pair, rater=rater),
        Assignment: Assignment.objects.create(
            study=study,
            pair=pair,
            rater=rater,
            left_output=outputs[0],
            expires_at=timezone.now() + timedelta(hours=1),
        ),
        Adjudication: Adjudication.objects.create(
            study=study, pair=pair, rater=rater, choice="a", left_output=outputs[0]
        ),
    }


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db) -> dict:
    cache.clear()
    owner, other = _researcher(), _researcher()
    superuser = UserFactory(is_staff=True, is_superuser=True)
    objects = _study_objects(owner, name=MARKER)
    _study_objects(other, name="Elsewhere")
    Token.objects.create(user=owner)
    # The token admin addresses a token by its user's id.
    objects[apps.get_model("authtoken", "TokenProxy")] = owner
    objects[apps.get_model("auth", "User")] = owner
    objects[Group] = Group.objects.get_or_create(name="Some group")[0]
    objects[ProviderConnection] = ProviderConnection.objects.create(
        name="team-endpoint", api_base="https://llm.example.org/v1", api_key_env="OPENAI_API_KEY"
    )
    clients = {role: Client() for role in ROLES}
    clients["rater"].force_login(objects[Rater].user)
    clients["other"].force_login(other)
    clients["owner"].force_login(owner)
    clients["superuser"].force_login(superuser)
    return {"objects": objects, "clients": clients, "owner": owner, "other": other}


def _operator_only(model: type[Model] | None) -> bool:
    if model is None:
        return False
    return model._meta.app_label in {"auth", "authtoken"} or model is ProviderConnection


def _model_of(prefix: str) -> type[Model] | None:
    match = re.fullmatch(r"\^?admin/(\w+)/(\w+)/", prefix)
    return apps.get_model(match[1], match[2]) if match else None


def _url(name: str, prefix: str, pattern: URLPattern, world: dict, *, object_pk=None) -> str:
    if not name:
        return "/admin/no/such/page/"  # the admin's catch-all
    model = _model_of(prefix)
    study = world["objects"][Study]
    values = {
        "study_id": study.pk,
        "object_id": object_pk or (world["objects"][model].pk if model else study.pk),
        "content_type_id": 1,
        "app_label": "evaluations",
        "status": "open",
        "id": world["owner"].pk,
    }
    kwargs = {key: values[key] for key in pattern.pattern.regex.groupindex}
    return reverse(name, kwargs=kwargs)


def _targets_an_object(pattern: URLPattern) -> bool:
    return bool({"object_id", "study_id"} & set(pattern.pattern.regex.groupindex))


def _expected_for_owner(name: str, prefix: str) -> int:
    """What the owner (and the superuser, for study objects) gets on a GET."""
    view = name.rsplit("_", 1)[-1] if name else ""
    model = _model_of(prefix)
    if not name or name == "admin:view_on_site":
        return 404  # the catch-all; no model has a public page
    if name == "admin:autocomplete":
        return 403  # asked without a field to complete
    if any(name.endswith(f"_{post_only}") for post_only in POST_ONLY):
        return 405
    if _operator_only(model):
        return 403  # researchers manage no accounts and no provider connections
    if view == "add" and model._meta.model_name in {"vote", "judgevote", "output", "adjudication"}:
        return 403  # evidence: never added by hand
    return 200


def _status(response, expected: int | str) -> bool:
    if expected == ADMIN_LOGIN:
        return response.status_code == 302 and response["Location"].startswith(
            reverse("admin:login")
        )
    return response.status_code == expected


def _checked_patterns() -> list[tuple[str, str, URLPattern]]:
    return [entry for entry in admin_patterns() if entry[0] not in NOT_CHECKED]


def test_every_admin_url_answers_each_role_and_shows_nothing_of_another_researchers_study(world):
    patterns = _checked_patterns()
    assert len(patterns) > 60, "the admin's URLs were not found"
    wrong: list[str] = []
    for name, prefix, pattern in patterns:
        url = _url(name, prefix, pattern, world)
        owner_expects = _expected_for_owner(name, prefix)
        model = _model_of(prefix)
        account_page = _operator_only(model)
        expectations: dict[str, int | str] = {
            "anonymous": ADMIN_LOGIN,
            "rater": ADMIN_LOGIN,
            "owner": owner_expects,
            "superuser": 200 if account_page and owner_expects == 403 else owner_expects,
            # Another researcher's object is answered as if it did not exist.
            "other": 404 if _targets_an_object(pattern) and owner_expects == 200 else owner_expects,
        }
        evidence = {"vote", "judgevote", "adjudication"}
        if name.endswith(("_add",)) and model and model._meta.model_name in evidence:
            expectations["superuser"] = 403
        for role, expected in expectations.items():
            response = world["clients"][role].get(url)
            if not _status(response, expected):
                wrong.append(f"{role} GET {url} ({name}): {response.status_code}, not {expected}")
            if role == "other" and MARKER.encode() in response.content:
                wrong.append(f"other GET {url} ({name}) shows the owner's study")
            if role == "other" and response.context and "cl" in response.context:
                shown = set(response.context["cl"].queryset.values_list("pk", flat=True))
                if world["objects"][response.context["cl"].model].pk in shown:
                    wrong.append(f"other GET {url} ({name}) lists the owner's object")
            if role == "owner" and response.context and "cl" in response.context:
                shown = set(response.context["cl"].queryset.values_list("pk", flat=True))
                if world["objects"][response.context["cl"].model].pk not in shown:
                    wrong.append(f"owner GET {url} ({name}) does not list their own object")
    assert not wrong, "\n".join(wrong)


def test_every_admin_and_inline_of_a_study_object_is_scoped(rf):
    request = rf.get("/admin/")
    request.user = get_user_model()(is_staff=True, is_superuser=True)
    unscoped = []
    for model, model_admin in admin.site._registry.items():
        inlines = model_admin.get_inlines(request, model())
        for cls, shows in [(type(model_admin), model), *((i, i.model) for i in inlines)]:
            if is_study_scoped(shows) and not issubclass(cls, StudyScopedAdminMixin):
                unscoped.append(cls.__name__)
    assert not unscoped


def test_another_researchers_object_and_a_missing_one_get_the_same_answer(world):
    client = world["clients"]["other"]
    for name, prefix, pattern in _checked_patterns():
        if not _targets_an_object(pattern) or _expected_for_owner(name, prefix) != 200:
            continue
        theirs = client.get(_url(name, prefix, pattern, world))
        missing = client.get(_url(name, prefix, pattern, world, object_pk=10**9))
        if "study_id" in pattern.pattern.regex.groupindex:
            missing = client.get(re.sub(r"/\d+/", f"/{10**9}/", _url(name, prefix, pattern, world)))
        assert theirs.status_code == missing.status_code == 404, name
        assert theirs.content == missing.content, name


def test_posting_to_every_admin_url_of_another_researchers_study_changes_nothing(world):
    client = world["clients"]["other"]
    study = world["objects"][Study]
    before = {
        "study": Study.objects.filter(pk=study.pk).values().get(),
        "rows": {m: m._default_manager.count() for m in (Candidate, Prompt, Output, Pair)},
        "votes": Vote.objects.count(),
        "invites": Invite.objects.count(),
        "outputs": list(Output.objects.filter(prompt__study=study).values("status", "text")),
    }
    wrong = []
    for name, prefix, pattern in _checked_patterns():
        if not _targets_an_object(pattern) or name == "admin:view_on_site":
            continue
        url = _url(name, prefix, pattern, world)
        data = {"post": "yes", "owner": world["other"].pk, "name": "taken", "file": ""}
        response = client.post(url, data)
        if response.status_code not in {403, 404}:
            wrong.append(f"other POST {url} ({name}): {response.status_code}")
    assert not wrong, "\n".join(wrong)
    assert Study.objects.filter(pk=study.pk).values().get() == before["study"]
    assert {m: m._default_manager.count() for m in before["rows"]} == before["rows"]
    assert Vote.objects.count() == before["votes"]
    assert Invite.objects.count() == before["invites"]
    outputs = list(Output.objects.filter(prompt__study=study).values("status", "text"))
    assert outputs == before["outputs"]


@pytest.mark.parametrize(
    ("model", "action"),
    [
        (Study, "delete_selected"),
        (Study, "generate_outputs"),
        (Study, "build_pairs"),
        (Study, "run_judges"),
        (Vote, "delete_selected"),
        (Invite, "delete_selected"),
        (Adjudication, "use_as_gold"),
        (Output, "retry_selected_failed"),
    ],
)
def test_admin_actions_never_reach_another_researchers_objects(world, model, action):
    obj = world["objects"][model]
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = world["clients"]["other"].post(
        url, {"action": action, "_selected_action": [obj.pk], "post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert model._default_manager.filter(pk=obj.pk).exists()
    if model is Adjudication:  # the verdict did not become the pair's gold answer
        assert Pair.objects.get(pk=obj.pair_id).gold_answer == ""
    assert MARKER not in response.content.decode()


def _candidate_form(study_id: int) -> dict:
    return {
        "study": study_id,
        "label": "planted",
        "model": "openai/planted",
        "fallback_deployments": "[]",
        "extra_params": "{}",
        "max_concurrency": "4",
    }


def test_a_researcher_cannot_add_a_candidate_or_an_invite_to_another_researchers_study(world):
    client = world["clients"]["other"]
    study = world["objects"][Study]
    page = client.get(reverse("admin:evaluations_candidate_add"))
    assert f'value="{study.pk}"' not in page.content.decode()
    response = client.post(reverse("admin:evaluations_candidate_add"), _candidate_form(study.pk))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    invite = client.post(
        reverse("admin:raters_invite_add"),
        {"study": study.pk, "max_uses": "1", "expires_at_0": "2030-01-01", "expires_at_1": "00:00"},
    )
    assert invite.status_code == 200
    assert "Select a valid choice" in invite.content.decode()
    assert not Candidate.objects.filter(label="planted").exists()
    assert Invite.objects.filter(study=study).count() == 1


def test_a_researcher_cannot_move_their_candidate_into_another_researchers_study(world):
    client = world["clients"]["other"]
    mine = Candidate.objects.filter(study__owner=world["other"]).first()
    url = reverse("admin:evaluations_candidate_change", args=[mine.pk])
    response = client.post(url, _candidate_form(world["objects"][Study].pk))
    assert response.status_code == 200
    mine.refresh_from_db()
    assert mine.study.owner == world["other"]


def _study_form(**fields: object) -> dict:
    return {
        "name": "Mine",
        "slug": "mine",
        "status": "draft",
        "question": "Which is better?",
        "votes_per_pair": "3",
        "seed": "1",
        "pairing_mode": "all",
        "gold_rate": "0",
        "gold_min_accuracy": "0.7",
        "training_pairs": "0",
        "judge_prompt_template": "{question} {answer_a} {answer_b}",
        **{
            f"{prefix}-{key}": value
            for prefix in ("candidates", "prompts", "judges")
            for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))
        },
        **fields,
    }


def test_a_new_study_belongs_to_the_researcher_who_adds_it_whatever_the_form_says(world):
    client = world["clients"]["other"]
    page = client.get(reverse("admin:evaluations_study_add"))
    assert 'name="owner"' not in page.content.decode()
    response = client.post(
        reverse("admin:evaluations_study_add"), _study_form(owner=world["owner"].pk)
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Study.objects.get(slug="mine").owner == world["other"]


def test_only_a_superuser_can_hand_a_study_to_someone_else(world):
    study = world["objects"][Study]
    url = reverse("admin:evaluations_study_change", args=[study.pk])
    page = world["clients"]["owner"].get(url)
    assert 'name="owner"' not in page.content.decode()
    form = _study_form(name=study.name, slug=study.slug, owner=world["other"].pk)
    for prefix in ("candidates", "prompts", "judges"):
        form[f"{prefix}-INITIAL_FORMS"] = "0"
    world["clients"]["owner"].post(url, form)
    study.refresh_from_db()
    assert study.owner == world["owner"]
    response = world["clients"]["superuser"].post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    study.refresh_from_db()
    assert study.owner == world["other"]


def test_a_rater_in_two_researchers_studies_shows_each_only_their_own_membership(world):
    rater = world["objects"][Rater]
    theirs = Study.objects.get(owner=world["other"])
    MembershipFactory(rater=rater, study=theirs)
    page = world["clients"]["other"].get(reverse("admin:raters_rater_change", args=[rater.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert theirs.name in html
    assert MARKER not in html.replace(rater.display_name, "")
    # The rater's account is not theirs to see or to swap.
    users = re.findall(r'<select name="user"[^>]*>(.*?)</select>', html, re.S)
    assert not users or world["owner"].username not in users[0]


def test_list_filters_offer_only_the_researchers_own_studies_and_owners(world):
    page = world["clients"]["other"].get(reverse("admin:evaluations_study_changelist"))
    html = page.content.decode()
    assert "Elsewhere study" in html
    assert world["owner"].username not in html
    assert MARKER not in html
