"""Who can reach what, CSRF on every form, invite links, rate limits and unguessable ids.

The authorization matrix walks every URL the resolver knows, so a new URL that nobody put in
the matrix fails here instead of shipping unchecked.
"""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from evaluations.models import Study
from raters.invites import invite_token
from raters.models import Panel
from raters.views import JOIN_LIMIT, LOGIN_LIMIT
from tests.factories import (
    InviteFactory,
    MembershipFactory,
    PairFactory,
    PromptMediaFactory,
    RaterFactory,
    StudyFactory,
    UserFactory,
)

ROLES = ("anonymous", "rater", "other_rater", "researcher")
LOGIN = "login"  # a redirect to the rater sign-in page
ADMIN_LOGIN = "admin-login"

# GET on each rater-facing URL, per role: a status, or a redirect to a sign-in page.
RATER_MATRIX: dict[str, dict[str, int | str]] = {
    "raters:home": {"anonymous": LOGIN, "rater": 200, "other_rater": 200, "researcher": 200},
    "raters:login": {"anonymous": 200, "rater": 302, "other_rater": 302, "researcher": 302},
    # Signing out is a POST (a link could sign anyone out).
    "raters:logout": {"anonymous": 405, "rater": 405, "other_rater": 405, "researcher": 405},
    # The invite is to the rater's study: members go straight to it.
    "raters:join": {"anonymous": 200, "rater": 302, "other_rater": 200, "researcher": 200},
    "raters:study": {"anonymous": LOGIN, "rater": 200, "other_rater": 404, "researcher": 404},
    "raters:vote": {"anonymous": LOGIN, "rater": 405, "other_rater": 405, "researcher": 405},
    "raters:skip": {"anonymous": LOGIN, "rater": 405, "other_rater": 405, "researcher": 405},
    "raters:undo": {"anonymous": LOGIN, "rater": 405, "other_rater": 405, "researcher": 405},
    # Members who need no training are sent on to the study.
    "raters:training": {"anonymous": LOGIN, "rater": 302, "other_rater": 404, "researcher": 404},
    # Only the study's designated senior rater; its other raters get the same 404 as strangers.
    "raters:adjudication": {
        "anonymous": LOGIN,
        "rater": 404,
        "other_rater": 404,
        "researcher": 404,
        "senior": 200,
    },
    # A panel's entry without the platform's ids: refused with the reason, for everyone.
    "raters:panel_enter": {"anonymous": 400, "rater": 400, "other_rater": 400, "researcher": 400},
    # Only the panel's own participants have a code to collect.
    "raters:panel_finish": {
        "anonymous": LOGIN,
        "rater": 404,
        "other_rater": 404,
        "researcher": 404,
    },  # fmt: skip
    # A prompt's image or document: the study's raters and its owner.
    "raters:prompt_media": {
        "anonymous": LOGIN,
        "rater": 200,
        "other_rater": 404,
        "researcher": 200,
    },
    # For load balancers: no session needed, nothing about anyone.
    "healthz": {"anonymous": 200, "rater": 200, "other_rater": 200, "researcher": 200},
    # Browsers ask for it on every site: a static icon, for everyone.
    "favicon": {"anonymous": 200, "rater": 200, "other_rater": 200, "researcher": 200},
}
# Results API: researchers only; anonymous is asked to authenticate, raters are refused.
API_EXPECTED = {"anonymous": 401, "rater": 403, "other_rater": 403, "researcher": 200}
# Let through, then refused on the data: these two studies share no candidate to compare,
# and the preference dataset of a study without votes would hold no record.
API_OVERRIDES = {"api:compare": {"researcher": 400}, "api:preferences-zip": {"researcher": 400}}


def url_patterns(
    resolver: URLResolver | None = None, namespace: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace or "") if part)
            yield from url_patterns(entry, inner)
        else:
            name = entry.name or f"<unnamed {entry.pattern}>"
            yield (f"{namespace}:{name}" if namespace else name), entry


@pytest.fixture
def world(db, settings, tmp_path) -> dict:
    cache.clear()
    settings.MEDIA_ROOT = tmp_path / "media"
    researcher = UserFactory(is_staff=True)
    researcher.user_permissions.add(Permission.objects.get(codename="view_study"))
    study = StudyFactory(owner=researcher, status=Study.Status.OPEN)
    other_study = StudyFactory(status=Study.Status.OPEN)
    second_study = StudyFactory(owner=researcher, status=Study.Status.OPEN)
    pairs = [PairFactory(study=study) for _ in range(3)]
    other_pairs = [PairFactory(study=other_study) for _ in range(3)]
    rater = MembershipFactory(study=study, rater=RaterFactory()).rater
    other_rater = MembershipFactory(study=other_study, rater=RaterFactory()).rater
    invite = InviteFactory(study=study, max_uses=None)
    panel = Panel.objects.create(study=study, completion_code="DONE1")
    media = PromptMediaFactory(study=study)
    senior = MembershipFactory(study=study, rater=RaterFactory(), senior=True).rater
    clients = {role: Client() for role in (*ROLES, "senior")}
    clients["senior"].force_login(senior.user)
    clients["rater"].force_login(rater.user)
    clients["other_rater"].force_login(other_rater.user)
    clients["researcher"].force_login(researcher)
    token = Token.objects.create(user=researcher).key
    return {
        "study": study,
        "other_study": other_study,
        "second_study": second_study,
        "pairs": pairs,
        "other_pairs": other_pairs,
        "rater": rater,
        "other_rater": other_rater,
        "researcher": researcher,
        "invite": invite,
        "panel": panel,
        "media": media,
        "clients": clients,
        "token": token,
    }


def _kwargs(pattern: URLPattern, world: dict) -> dict[str, object]:
    values = {
        "study_id": world["study"].pk,
        "other_id": world["second_study"].pk,
        "token": invite_token(world["invite"]),
        "key": world["panel"].key,
        "object_id": str(world["study"].pk),
        "app_label": "evaluations",
        "content_type_id": 1,
        "id": 1,
        "uidb64": "MQ",
        "url": "x",
        "status": "open",
        "digest": world["media"].sha256,
    }
    return {name: values[name] for name in pattern.pattern.regex.groupindex}


def _outcome(response, expected: int | str) -> bool:
    if expected == LOGIN:
        return response.status_code == 302 and response["Location"].startswith(
            reverse("raters:login")
        )
    if expected == ADMIN_LOGIN:
        return response.status_code == 302 and response["Location"].startswith(
            reverse("admin:login")
        )
    return response.status_code == expected


def test_every_url_is_in_the_authorization_matrix_and_answers_each_role_as_it_says(world):
    checked, wrong, unknown = 0, [], []
    for name, pattern in url_patterns():
        url = None
        if name.startswith("admin:"):
            # The admin is for staff: everyone else is sent to its sign-in, whatever the page.
            if name in {"admin:login", "admin:logout", "admin:jsi18n"} or "password" in name:
                continue
            expectations = {"anonymous": ADMIN_LOGIN, "rater": ADMIN_LOGIN}
            expectations["other_rater"] = ADMIN_LOGIN
            if "<unnamed" in name:
                url = "/admin/no/such/page/"  # the admin's catch-all
        elif name.startswith("api:"):
            expectations = {**API_EXPECTED, **API_OVERRIDES.get(name, {})}
        elif name in RATER_MATRIX:
            expectations = RATER_MATRIX[name]
        else:
            unknown.append(name or str(pattern.pattern))
            continue
        try:
            url = url or reverse(name, kwargs=_kwargs(pattern, world))
        except KeyError as error:
            unknown.append(f"{name} (no value for URL argument {error})")
            continue
        for role, expected in expectations.items():
            headers = {}
            if role == "researcher" and name.startswith("api:"):
                headers["Authorization"] = f"Token {world['token']}"
            response = world["clients"][role].get(url, headers=headers)
            checked += 1
            if not _outcome(response, expected):
                wrong.append(f"{role} GET {url}: {response.status_code}, expected {expected}")
    assert not unknown, f"URLs missing from the authorization matrix: {unknown}"
    assert not wrong, "\n".join(wrong)
    assert checked > 100


def test_a_researcher_cannot_read_another_researchers_study_through_the_api(world):
    stranger = UserFactory(is_staff=True)
    stranger.user_permissions.add(Permission.objects.get(codename="view_study"))
    client = Client()
    client.force_login(stranger)
    missing = Study.objects.order_by("-pk").first().pk + 1000
    for name, pattern in url_patterns():
        if not name.startswith("api:") or "study_id" not in pattern.pattern.converters:
            continue
        kwargs = _kwargs(pattern, world)
        theirs = client.get(reverse(name, kwargs=kwargs))
        absent = client.get(reverse(name, kwargs={**kwargs, "study_id": missing}))
        assert theirs.status_code == absent.status_code == 404, name
        assert theirs.content == absent.content, name


@pytest.mark.parametrize("name", ["raters:study", "raters:vote", "raters:skip", "raters:undo"])
def test_another_studys_id_and_a_missing_id_get_the_same_answer(world, name):
    client = world["clients"]["other_rater"]
    missing = Study.objects.order_by("-pk").first().pk + 1000
    for method in ("get", "post"):
        data = {"pair": world["pairs"][0].public_id, "choice": "A"} if method == "post" else None
        existing = getattr(client, method)(reverse(name, args=[world["study"].pk]), data)
        absent = getattr(client, method)(reverse(name, args=[missing]), data)
        assert existing.status_code == absent.status_code, (method, name)
        assert existing.content == absent.content, (method, name)
        assert existing.status_code in {404, 405}


def _without_csrf(html: bytes) -> bytes:
    # Django masks the CSRF token afresh in every response.
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", html)


@pytest.mark.parametrize("name", ["raters:vote", "raters:skip"])
def test_a_pair_of_another_study_is_answered_like_a_pair_that_does_not_exist(world, name):
    client = world["clients"]["rater"]
    client.get(reverse("raters:study", args=[world["study"].pk]))  # gets a pair assigned
    url = reverse(name, args=[world["study"].pk])
    foreign = client.post(
        url,
        {"pair": world["other_pairs"][0].public_id, "choice": "A"},
        headers={"X-Requested-With": "fetch"},
    )
    invented = client.post(
        url, {"pair": "AAAAAAAAAAAAAAAA", "choice": "A"}, headers={"X-Requested-With": "fetch"}
    )
    assert foreign.status_code == invented.status_code
    assert _without_csrf(foreign.content) == _without_csrf(invented.content)
    assert not world["other_rater"].votes.exists()


def test_pair_ids_are_long_random_and_unrelated_to_row_order(world):
    pairs = world["pairs"] + world["other_pairs"] + [PairFactory() for _ in range(20)]
    ids = [pair.public_id for pair in sorted(pairs, key=lambda p: p.pk)]
    assert len(set(ids)) == len(ids)
    assert all(len(public_id) >= 16 for public_id in ids)
    assert all(str(pair.pk) != pair.public_id for pair in pairs)
    assert ids != sorted(ids)
    # 96 bits of randomness: no two share a long prefix, as a counter's would.
    assert len({public_id[:6] for public_id in ids}) == len(ids)


def test_the_rater_page_shows_the_pair_only_by_its_public_id(world):
    response = world["clients"]["rater"].get(reverse("raters:study", args=[world["study"].pk]))
    shown = re.search(r'name="pair" value="([^"]+)"', response.content.decode()).group(1)
    assert shown in {pair.public_id for pair in world["pairs"]}


# -- CSRF ---------------------------------------------------------------------------------------


def _post_forms(html: str) -> list[str]:
    return re.findall(r"<form\b[^>]*method=\"post\"[^>]*>.*?</form>", html, flags=re.S | re.I)


def test_every_form_on_the_rater_pages_carries_a_csrf_token(world):
    rater = Client()
    rater.force_login(world["rater"].user)
    pages = [
        (Client(), reverse("raters:login")),
        (Client(), reverse("raters:join", args=[invite_token(world["invite"])])),
        (Client(), reverse("admin:login")),
        (rater, reverse("raters:home")),
        (rater, reverse("raters:study", args=[world["study"].pk])),
    ]
    seen = 0
    for client, url in pages:
        forms = _post_forms(client.get(url).content.decode())
        for form in forms:
            assert 'name="csrfmiddlewaretoken"' in form, f"{url}: {form[:200]}"
        seen += len(forms)
    assert seen >= 5


@pytest.mark.parametrize(
    ("name", "signed_in"),
    [
        ("raters:login", False),
        ("raters:join", False),
        ("raters:logout", True),
        ("raters:vote", True),
        ("raters:skip", True),
        ("raters:undo", True),
        ("raters:training", True),
        ("raters:panel_enter", False),
        ("raters:panel_finish", True),
        ("admin:login", False),
    ],
)
def test_a_post_without_the_csrf_token_is_refused(world, name, signed_in):
    client = Client(enforce_csrf_checks=True)
    if signed_in:
        client.force_login(world["rater"].user)
    args = {
        "raters:join": [invite_token(world["invite"])],
        "raters:vote": [world["study"].pk],
        "raters:skip": [world["study"].pk],
        "raters:undo": [world["study"].pk],
        "raters:training": [world["study"].pk],
        "raters:panel_enter": [world["panel"].key],
        "raters:panel_finish": [world["panel"].key],
    }.get(name, [])
    before = world["rater"].votes.count()
    data = {"username": "x", "password": "y", "pair": world["pairs"][0].public_id, "choice": "A"}
    response = client.post(reverse(name, args=args), data)
    assert response.status_code == 403
    assert "CSRF" in response.content.decode()
    assert world["rater"].votes.count() == before


# -- Invite links -------------------------------------------------------------------------------


def _join(client: Client, token: str, method: str = "get"):
    data = {
        "display_name": "New Rater",
        "username": "newrater",
        "password1": "a long enough passphrase 42",
        "password2": "a long enough passphrase 42",
    }
    url = reverse("raters:join", args=[token])
    return client.post(url, data) if method == "post" else client.get(url)


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_expired_invite_is_refused_with_a_clear_reason(world, method):
    invite = InviteFactory(study=world["study"], expires_at=timezone.now() - timedelta(minutes=1))
    response = _join(Client(), invite_token(invite), method)
    assert response.status_code == 404
    assert "has expired" in response.content.decode()
    assert not world["study"].memberships.filter(rater__user__username="newrater").exists()


def test_a_single_use_invite_cannot_be_used_twice(world):
    invite = InviteFactory(study=world["study"], max_uses=1)
    token = invite_token(invite)
    first = _join(Client(), token, "post")
    assert first.status_code == 302
    again = _join(Client(), token, "post")
    assert again.status_code == 404
    assert "already been used" in again.content.decode()
    # the rater and senior fixtures and the first joiner
    assert world["study"].memberships.count() == 3


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature altered
        # key altered, signature kept (a key that starts with X would be left as it was)
        lambda token: ("X" if token[0] != "X" else "Y") + token[1:],
        lambda token: token.split(":")[0],  # signature removed
        lambda token: "not-a-token",
    ],
)
def test_a_tampered_invite_link_is_refused(world, tamper):
    response = _join(Client(), tamper(invite_token(world["invite"])), "post")
    assert response.status_code == 404
    assert "not valid" in response.content.decode()
    assert not world["study"].memberships.filter(rater__user__username="newrater").exists()


def test_a_revoked_invite_is_refused(world):
    invite = InviteFactory(study=world["study"], revoked=True)
    response = _join(Client(), invite_token(invite))
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


# -- Rate limits --------------------------------------------------------------------------------


def test_sign_in_attempts_are_rate_limited_per_address(world):
    limit, _window = LOGIN_LIMIT
    url = reverse("raters:login")
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    data = {"username": world["rater"].user.username, "password": "wrong"}
    statuses = [attacker.post(url, data).status_code for _ in range(limit)]
    assert set(statuses) == {200}  # the form again, with an error
    assert attacker.post(url, data).status_code == 429
    # Even the right password is refused until the window ends...
    right = {"username": world["rater"].user.username, "password": "correct horse battery"}
    assert attacker.post(url, right).status_code == 429
    # ...but only for that address.
    assert Client(REMOTE_ADDR="198.51.100.7").post(url, right).status_code == 302


def test_invite_redemptions_are_rate_limited_per_address(world):
    limit, _window = JOIN_LIMIT
    url = reverse("raters:join", args=[invite_token(world["invite"])])
    client = Client(REMOTE_ADDR="203.0.113.10")
    bad = {"display_name": "x", "username": "", "password1": "a", "password2": "b"}
    statuses = [client.post(url, bad).status_code for _ in range(limit)]
    assert set(statuses) == {200}
    assert client.post(url, bad).status_code == 429
