"""Failed sign-ins are limited per account and per real client address, on every door: the
admin's sign-in, the raters', invite redemption and API tokens. Successful ones never count;
behind the proxy each client is counted on its own; an administrator can lift a lockout."""

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from rest_framework.authtoken.models import Token

from raters.invites import invite_token
from raters.ratelimit import client_address
from raters.signin_limits import ACCOUNT_FAILURES, ADDRESS_FAILURES
from tests.factories import (
    InviteFactory,
    MembershipFactory,
    RaterFactory,
    StudyFactory,
    UserFactory,
)

PASSWORD = "correct horse battery"  # the factories' password
PROXY = "127.0.0.1"  # FORWARDED_ALLOW_IPS' default


@pytest.fixture(autouse=True)
def fresh_limits(settings):
    cache.clear()
    # Hundreds of sign-ins here: the real hasher's cost is not what is being tested.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def superuser(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def rater(db):
    return MembershipFactory(study=StudyFactory(), rater=RaterFactory()).rater


def admin_sign_in(client: Client, username: str, password: str):
    return client.post(reverse("admin:login"), {"username": username, "password": password})


def rater_sign_in(client: Client, username: str, password: str):
    return client.post(reverse("raters:login"), {"username": username, "password": password})


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def behind_proxy(address: str) -> Client:
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{address}")


def test_admin_sign_in_refuses_the_right_password_after_sixty_wrong_ones(superuser):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [admin_sign_in(attacker, superuser.username, "guess").status_code for _ in range(60)]
    assert statuses[:ADDRESS_FAILURES] == [200] * ADDRESS_FAILURES
    assert set(statuses[ADDRESS_FAILURES:]) == {429}
    response = admin_sign_in(attacker, superuser.username, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert not signed_in(attacker)


def test_successful_rater_sign_ins_do_not_count(rater):
    client = Client(REMOTE_ADDR="203.0.113.20")
    for _ in range(ADDRESS_FAILURES + 10):
        assert rater_sign_in(client, rater.user.username, PASSWORD).status_code == 302
        client.post(reverse("raters:logout"))


def test_successful_admin_sign_ins_do_not_count(superuser):
    client = Client(REMOTE_ADDR="203.0.113.21")
    for _ in range(ADDRESS_FAILURES + 10):
        assert admin_sign_in(client, superuser.username, PASSWORD).status_code == 302
        client.post(reverse("admin:logout"))


def test_successful_registrations_do_not_count(db):
    invite = InviteFactory(study=StudyFactory(), max_uses=None)
    url = reverse("raters:join", args=[invite_token(invite)])
    for number in range(ADDRESS_FAILURES + 5):
        client = Client(REMOTE_ADDR="203.0.113.22")  # a classroom behind one address
        response = client.post(
            url,
            {
                "display_name": f"Student {number}",
                "username": f"student{number}",
                "password1": "a long enough passphrase 42",
                "password2": "a long enough passphrase 42",
            },
        )
        assert response.status_code == 302, number


def test_behind_the_proxy_one_client_does_not_lock_out_everyone(rater):
    attacker = behind_proxy("203.0.113.9")
    for _ in range(ADDRESS_FAILURES + 5):
        rater_sign_in(attacker, rater.user.username, "guess")
    assert rater_sign_in(attacker, rater.user.username, PASSWORD).status_code == 429
    colleague = behind_proxy("198.51.100.7")
    assert rater_sign_in(colleague, rater.user.username, PASSWORD).status_code == 302


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(rater):
    statuses = []
    for number in range(ADDRESS_FAILURES + 1):
        # The attacker writes a new X-Forwarded-For each time; it is not a proxy we trust.
        attacker = Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"10.0.0.{number}")
        statuses.append(rater_sign_in(attacker, rater.user.username, "guess").status_code)
    assert statuses[-1] == 429


def test_failures_from_many_addresses_lock_the_account(rater):
    for number in range(ACCOUNT_FAILURES):
        rater_sign_in(Client(REMOTE_ADDR=f"198.51.100.{number}"), rater.user.username, "guess")
    fresh = Client(REMOTE_ADDR="192.0.2.1")
    response = rater_sign_in(fresh, rater.user.username, PASSWORD)
    assert response.status_code == 429
    assert not signed_in(fresh)
    # Other accounts are not affected.
    other = RaterFactory()
    assert rater_sign_in(fresh, other.user.username, PASSWORD).status_code == 302


def test_the_account_limit_ignores_the_case_of_the_username(superuser):
    for number in range(ACCOUNT_FAILURES):
        name = superuser.username.upper() if number % 2 else superuser.username
        admin_sign_in(Client(REMOTE_ADDR=f"198.51.100.{number}"), name, "guess")
    assert admin_sign_in(Client(), superuser.username, PASSWORD).status_code == 429


def test_a_success_clears_the_accounts_failures(rater):
    client = Client(REMOTE_ADDR="203.0.113.30")
    for round_ in range(3):
        for number in range(ACCOUNT_FAILURES - 1):
            guesser = Client(REMOTE_ADDR=f"198.51.{round_}.{number}")
            rater_sign_in(guesser, rater.user.username, "guess")
        assert rater_sign_in(client, rater.user.username, PASSWORD).status_code == 302
        client.post(reverse("raters:logout"))


def test_an_administrator_lifts_a_lockout_with_a_command(rater, capsys):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for number in range(ACCOUNT_FAILURES):
        rater_sign_in(Client(REMOTE_ADDR=f"198.51.100.{number}"), rater.user.username, "guess")
    for _ in range(ADDRESS_FAILURES):
        rater_sign_in(attacker, "somebody-else", "guess")
    assert rater_sign_in(attacker, rater.user.username, PASSWORD).status_code == 429

    call_command("signin_locks", "--list", rater.user.username, "--address", "203.0.113.9")
    listed = capsys.readouterr().out
    assert f"account {rater.user.username}: locked" in listed
    assert "address 203.0.113.9: locked" in listed

    call_command("signin_locks", "--unlock", rater.user.username)
    assert rater_sign_in(Client(), rater.user.username, PASSWORD).status_code == 302
    assert rater_sign_in(attacker, rater.user.username, PASSWORD).status_code == 429
    call_command("signin_locks", "--unlock", "--address", "203.0.113.9")
    assert rater_sign_in(attacker, rater.user.username, PASSWORD).status_code == 302


def test_invalid_invite_links_count_as_failures(db):
    client = Client(REMOTE_ADDR="203.0.113.40")
    statuses = [
        client.get(reverse("raters:join", args=[f"guess{n}"])).status_code
        for n in range(ADDRESS_FAILURES + 1)
    ]
    assert set(statuses[:ADDRESS_FAILURES]) == {404}
    assert statuses[-1] == 429
    good = InviteFactory(study=StudyFactory())
    assert client.get(reverse("raters:join", args=[invite_token(good)])).status_code == 429
    assert Client().get(reverse("raters:join", args=[invite_token(good)])).status_code == 200


def test_wrong_api_tokens_are_limited_per_address(superuser):
    token = Token.objects.create(user=superuser).key
    url = reverse("api:study-list")
    attacker = Client(REMOTE_ADDR="203.0.113.50")
    statuses = [
        attacker.get(url, headers={"Authorization": f"Token {n:040x}"}).status_code
        for n in range(ADDRESS_FAILURES + 1)
    ]
    assert set(statuses[:ADDRESS_FAILURES]) == {401}
    assert statuses[-1] == 429
    assert attacker.get(url, headers={"Authorization": f"Token {token}"}).status_code == 429
    elsewhere = Client(REMOTE_ADDR="198.51.100.50")
    assert elsewhere.get(url, headers={"Authorization": f"Token {token}"}).status_code == 200
    # A good token used many times counts nothing.
    for _ in range(ADDRESS_FAILURES + 1):
        assert elsewhere.get(url, headers={"Authorization": f"Token {token}"}).status_code == 200


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", "", "127.0.0.1,::1", "203.0.113.9"),
        ("203.0.113.9", "10.1.1.1", "127.0.0.1,::1", "203.0.113.9"),
        ("127.0.0.1", "198.51.100.7", "127.0.0.1,::1", "198.51.100.7"),
        # The client's own (forged) entries come first; the proxy appends the real address.
        ("127.0.0.1", "1.2.3.4, 198.51.100.7", "127.0.0.1,::1", "198.51.100.7"),
        # Two proxies, both trusted: the first untrusted address from the right.
        ("10.0.0.2", "198.51.100.7, 10.0.0.1", "10.0.0.0/8", "198.51.100.7"),
        ("::1", "2001:db8::1", "127.0.0.1,::1", "2001:db8::1"),
        # Garbage from the proxy: the proxy's own address, never the garbage.
        ("127.0.0.1", "not-an-address", "127.0.0.1,::1", "127.0.0.1"),
        ("10.0.0.2", "198.51.100.7", "*", "198.51.100.7"),
    ],
)
def test_client_address_trusts_forwarded_only_from_allowed_proxies(
    remote, forwarded, trusted, expected
):
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(FORWARDED_ALLOW_IPS=trusted.split(",")):
        assert client_address(request) == expected
