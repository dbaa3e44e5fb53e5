import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from evaluations.models import Output, Pair, Study
from raters.assignment import assignment_next
from raters.invites import invite_create, invite_path, invite_token
from raters.models import Membership, Rater, Vote
from tests.factories import InviteFactory, OutputFactory, UserFactory
from tests.raters.conftest import join, study_with_pairs

SECRET_LABELS = ["Zebracorn-Alpha", "Quokkatron-Beta"]
SECRET_MODELS = ["acmecorp/zebracorn-9000", "globex/quokkatron-xl"]


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()


def signed_in(client, rater: Rater):
    client.force_login(rater.user)
    return client


@pytest.mark.django_db
def test_an_invite_creates_an_account_joins_the_study_and_is_used_up(client):
    study = study_with_pairs(n_prompts=2)
    invite = invite_create(study=study, max_uses=1)
    response = client.post(
        invite_path(invite),
        {
            "display_name": "Dr. Ada",
            "username": "ada",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
    )
    assert response.status_code == 302
    assert response.url == reverse("raters:study", args=[study.pk])
    rater = Rater.objects.get(user__username="ada")
    assert rater.display_name == "Dr. Ada"
    assert Membership.objects.filter(rater=rater, study=study).exists()
    invite.refresh_from_db()
    assert invite.uses == 1
    client.logout()
    assert client.get(invite_path(invite)).status_code == 404


@pytest.mark.django_db
def test_a_signed_in_user_joins_with_one_click_and_a_multi_use_invite_stays_open(client):
    study = study_with_pairs(n_prompts=2)
    invite = invite_create(study=study, max_uses=None)
    for _ in range(3):
        user = UserFactory()
        client.force_login(user)
        assert client.post(invite_path(invite)).status_code == 302
    assert Membership.objects.filter(study=study).count() == 3


@pytest.mark.django_db
def test_expired_revoked_or_tampered_invites_are_refused(client):
    study = study_with_pairs(n_prompts=1)
    expired = InviteFactory(study=study, expires_at=timezone.now() - timedelta(minutes=1))
    revoked = InviteFactory(study=study, revoked=True)
    good = InviteFactory(study=study)
    assert client.get(invite_path(expired)).status_code == 404
    assert client.get(invite_path(revoked)).status_code == 404
    tampered = invite_token(good)[:-2] + "xx"
    assert client.get(reverse("raters:join", args=[tampered])).status_code == 404
    bare_key = reverse("raters:join", args=[good.key])
    assert client.get(bare_key).status_code == 404
    assert client.get(invite_path(good)).status_code == 200


@pytest.mark.django_db
def test_login_is_rate_limited(client):
    url = reverse("raters:login")
    statuses = [
        client.post(url, {"username": "nobody", "password": "wrong"}).status_code for _ in range(25)
    ]
    assert statuses[0] == 200
    assert statuses[-1] == 429


@pytest.mark.django_db
def test_voting_without_javascript_records_and_moves_on(client, open_study, rater):
    signed_in(client, rater)
    page = client.get(reverse("raters:study", args=[open_study.pk]))
    assert page.status_code == 200
    public_id = re.search(r'name="pair" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(
        reverse("raters:vote", args=[open_study.pk]),
        {"pair": public_id, "choice": "B", "rationale": "clearer"},
    )
    assert response.status_code == 302
    vote = Vote.objects.get(rater=rater)
    assert vote.pair.public_id == public_id and vote.rationale == "clearer"
    page = client.get(reverse("raters:study", args=[open_study.pk]))
    assert "1 voted of" in page.content.decode()
    assert "Vote recorded." in page.content.decode()
    assert public_id not in page.content.decode()


@pytest.mark.django_db
def test_a_fetch_vote_returns_the_next_pair_and_a_retry_changes_nothing(client, open_study, rater):
    signed_in(client, rater)
    public_id = assignment_next(rater=rater, study=open_study).pair.public_id
    url = reverse("raters:vote", args=[open_study.pk])
    data = {"pair": public_id, "choice": "A", "time_spent_ms": "1500"}
    first = client.post(url, data, headers={"X-Requested-With": "fetch"})
    retry = client.post(url, data, headers={"X-Requested-With": "fetch"})
    assert first.status_code == retry.status_code == 200
    assert "<html" not in first.content.decode()
    assert 'name="pair"' in first.content.decode()
    assert "already recorded" in retry.content.decode()
    assert Vote.objects.filter(rater=rater).count() == 1


@pytest.mark.django_db
def test_a_closed_study_says_so(client, open_study, rater):
    Study.objects.filter(pk=open_study.pk).update(status=Study.Status.CLOSED)
    body = signed_in(client, rater).get(reverse("raters:study", args=[open_study.pk]))
    assert "This study is closed" in body.content.decode()
    assert 'name="pair"' not in body.content.decode()


@pytest.mark.django_db
def test_a_study_without_pairs_says_there_is_nothing_to_vote_on_yet(client):
    study = study_with_pairs(n_prompts=0)
    rater = join(study)
    body = signed_in(client, rater).get(reverse("raters:study", args=[study.pk]))
    assert "Nothing to vote on yet" in body.content.decode()


@pytest.mark.django_db
def test_a_rater_cannot_open_vote_on_or_skip_another_studys_pairs(client, open_study, rater):
    other = study_with_pairs(n_prompts=2)
    outsider_pair = other.pairs.first()
    signed_in(client, rater)
    assert client.get(reverse("raters:study", args=[other.pk])).status_code == 404
    for name in ("vote", "skip", "undo"):
        response = client.post(
            reverse(f"raters:{name}", args=[other.pk]),
            {"pair": outsider_pair.public_id, "choice": "A"},
        )
        assert response.status_code == 404
    # Nor smuggle the other study's pair in through their own study.
    response = client.post(
        reverse("raters:vote", args=[open_study.pk]),
        {"pair": outsider_pair.public_id, "choice": "A"},
    )
    assert response.status_code == 404
    assert not Vote.objects.exists()


@pytest.mark.django_db
def test_a_rater_cannot_reach_admin_or_results(client, open_study, rater):
    signed_in(client, rater)
    for url in [
        "/admin/",
        f"/admin/evaluations/study/{open_study.pk}/change/",
        "/admin/raters/vote/",
    ]:
        response = client.get(url)
        assert response.status_code in {302, 403, 404}
        if response.status_code == 302:
            assert "/admin/login/" in response.url
    for url in [
        "/api/",
        f"/api/studies/{open_study.pk}/",
        f"/api/studies/{open_study.pk}/ranking/",
    ]:
        assert client.get(url).status_code in {401, 403, 404}


@pytest.mark.django_db
def test_rater_pages_carry_a_strict_content_security_policy(client, open_study, rater):
    response = signed_in(client, rater).get(reverse("raters:study", args=[open_study.pk]))
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "img-src 'self'" in policy


def body_of(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode() + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())


def crawl(client, start: str, limit: int = 60) -> dict[str, str]:
    """Every same-site page reachable by links from start, as the rater's browser sees it."""
    pages: dict[str, str] = {}
    queue = [start]
    while queue and len(pages) < limit:
        url = queue.pop()
        if url in pages:
            continue
        body = body_of(client.get(url, follow=True))
        pages[url] = body
        for link in re.findall(r'(?:href|src|action)="([^"#]+)"', body):
            if link.startswith("/") and not link.startswith("//"):
                queue.append(link)
    return pages


@pytest.mark.django_db
def test_nothing_a_rater_can_reach_names_a_model_or_its_ids(client):
    # Push the secret study's ids past the small numbers a page shows (counts, progress), so
    # that an id found in an attribute really is a leak, also on SQLite where ids restart at 1.
    OutputFactory.create_batch(40)
    study = study_with_pairs(
        n_prompts=3, n_candidates=2, labels=SECRET_LABELS, models=SECRET_MODELS, votes_per_pair=1
    )
    invite = invite_create(study=study, max_uses=1)
    response = client.post(
        invite_path(invite),
        {
            "display_name": "Blind",
            "username": "blind",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
        follow=True,
    )
    seen = [response.content.decode()]
    rater = Rater.objects.get(user__username="blind")
    forbidden = [*SECRET_LABELS, *SECRET_MODELS, "zebracorn", "quokkatron", "acmecorp", "globex"]
    study_url = reverse("raters:study", args=[study.pk])
    for round_ in range(4):
        pages = crawl(client, study_url)
        seen.extend(pages.values())
        body = pages[study_url]
        match = re.search(r'name="pair" value="([^"]+)"', body)
        if match is None:
            break
        action = "skip" if round_ == 1 else "vote"
        fragment = client.post(
            reverse(f"raters:{action}", args=[study.pk]),
            {"pair": match.group(1), "choice": "A"},
            headers={"X-Requested-With": "fetch"},
        )
        seen.append(fragment.content.decode())
        if round_ == 2:
            seen.append(
                client.post(reverse("raters:undo", args=[study.pk]), follow=True).content.decode()
            )
    # Error pages and static assets are reachable too.
    seen.append(client.get("/studies/999999/").content.decode())
    seen.append(
        client.post(
            reverse("raters:vote", args=[study.pk]), {"pair": "nope", "choice": "A"}
        ).content.decode()
    )
    seen.append(body_of(client.get("/static/raters/voting.js")))
    seen.append(body_of(client.get("/static/raters/raters.css")))
    assert Vote.objects.filter(rater=rater).exists()
    everything = "\n".join(seen).lower()
    for word in forbidden:
        assert word.lower() not in everything, word
    internal_ids = {str(o.pk) for o in Output.objects.filter(prompt__study=study)}
    internal_ids |= {str(c.pk) for c in study.candidates.all()}
    for attr in re.findall(r'(?:value|href|action|data-[a-z-]+)="([^"]*)"', everything):
        for pk in internal_ids:
            assert not re.search(rf"(?<![\w]){pk}(?![\w])", attr) or attr.startswith(
                f"/studies/{study.pk}"
            ), attr
    assert "/admin/" not in everything and "/api/" not in everything
    assert Pair.objects.filter(study=study).exists()
