"""Failed sign-ins, limited per account and per client address, on every door: the admin's
sign-in, the raters' sign-in, invite links and registration, and API tokens.

Only failures count (a wrong password, an unknown or expired invite, a refused registration, a
wrong token): a classroom behind one address signs in and registers as often as it likes. The
address is the real client's (`raters.ratelimit.client_address`), so behind the proxy one person
locks out only themselves. An address is locked after ADDRESS_FAILURES failures within
LOCKOUT_SECONDS, an account (its username, whatever the case) after ACCOUNT_FAILURES from
anywhere; a lock lasts LOCKOUT_SECONDS and refuses even the right password. The account limit
is the higher one so that one address alone is stopped before it can lock its victim out.
`manage.py signin_locks` shows and lifts locks. State lives in the cache (Redis in production,
shared by every process).
"""

import hashlib
import math
import time

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from raters.ratelimit import client_address

ADDRESS_FAILURES = settings.SIGNIN_FAILURES_PER_ADDRESS
ACCOUNT_FAILURES = settings.SIGNIN_FAILURES_PER_ACCOUNT
LOCKOUT_SECONDS = settings.SIGNIN_LOCKOUT_SECONDS

FORMS = "signin"  # the admin's and the raters' sign-in forms, invite links and registration
TOKENS = "token"  # API tokens: a script with a stale token must not lock people out of forms
SCOPES = (FORMS, TOKENS)
# URL names whose requests are refused while the address or the posted username is locked.
GUARDED_POSTS = {"admin:login", "raters:login"}
GUARDED_ALWAYS = {"raters:join"}


def _key(kind: str, scope: str, what: str, value: str) -> str:
    # Hashed: usernames may hold characters and lengths that some cache backends refuse in keys.
    digest = hashlib.sha256(value.encode()).hexdigest()[:40]
    return f"signin:{kind}:{scope}:{what}:{digest}"


def _subjects(scope: str, address: str | None, username: str | None) -> list[tuple[str, str, int]]:
    subjects = []
    if address:
        subjects.append(("address", address, ADDRESS_FAILURES))
    if username and scope == FORMS:
        subjects.append(("account", username.casefold(), ACCOUNT_FAILURES))
    return subjects


def signin_lock_remaining(
    *, scope: str = FORMS, address: str | None = None, username: str | None = None
) -> int:
    """Seconds until every lock on this address and account has lapsed; 0 if none holds."""
    remaining = 0.0
    now = time.time()
    for what, value, _limit in _subjects(scope, address, username):
        until = cache.get(_key("lock", scope, what, value))
        if until is not None:
            remaining = max(remaining, until - now, 1)
    return math.ceil(remaining)


def _count(key: str) -> int:
    # add() is atomic on every backend: only the first failure of a window sets its expiry.
    if cache.add(key, 1, timeout=LOCKOUT_SECONDS):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # the window lapsed between add() and incr()
        cache.add(key, 1, timeout=LOCKOUT_SECONDS)
        return 1


def signin_failure_record(
    *, scope: str = FORMS, address: str | None = None, username: str | None = None
) -> None:
    for what, value, limit in _subjects(scope, address, username):
        if _count(_key("failures", scope, what, value)) >= limit:
            cache.set(
                _key("lock", scope, what, value),
                time.time() + LOCKOUT_SECONDS,
                timeout=LOCKOUT_SECONDS,
            )


def signin_success_record(*, username: str) -> None:
    """A right password clears the account's failures (not the address's: an attacker could
    otherwise sign in to their own account now and then to keep guessing)."""
    cache.delete(_key("failures", FORMS, "account", username.casefold()))


def signin_unlock(*, username: str | None = None, address: str | None = None) -> None:
    for scope in SCOPES:
        for what, value, _limit in _subjects(scope, address, username):
            cache.delete_many([_key(kind, scope, what, value) for kind in ("lock", "failures")])


def signin_status(*, username: str | None = None, address: str | None = None) -> list[str]:
    """One line per account or address and scope: locked (for how long) or its failure count."""
    lines = []
    now = time.time()
    for scope in SCOPES:
        for what, value, limit in _subjects(scope, address, username):
            label = f"{what} {value}" + ("" if scope == FORMS else f" ({scope}s)")
            until = cache.get(_key("lock", scope, what, value))
            failures = cache.get(_key("failures", scope, what, value)) or 0
            if until is not None:
                lines.append(f"{label}: locked for {math.ceil((until - now) / 60)} more min")
            else:
                lines.append(f"{label}: {failures} of {limit} failed attempts, not locked")
    return lines


def signin_locked_response(request: HttpRequest, seconds: int) -> HttpResponse:
    minutes = max(1, math.ceil(seconds / 60))
    response = render(
        request,
        "429.html",
        {
            "detail": (
                f"Too many failed sign-ins. Try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}, or ask an administrator to lift the lock."
            )
        },
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


class SignInLimitMiddleware:
    """Refuses sign-in attempts while the client's address or the account is locked."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view, args, kwargs) -> HttpResponse | None:
        name = request.resolver_match.view_name if request.resolver_match else ""
        if name in GUARDED_ALWAYS or (name in GUARDED_POSTS and request.method == "POST"):
            username = request.POST.get("username") if request.method == "POST" else None
            seconds = signin_lock_remaining(address=client_address(request), username=username)
            if seconds:
                return signin_locked_response(request, seconds)
        return None


@receiver(user_login_failed)
def _failed(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    if request is not None:
        signin_failure_record(address=client_address(request), username=credentials.get("username"))


@receiver(user_logged_in)
def _succeeded(sender, request: HttpRequest | None, user, **kwargs) -> None:
    signin_success_record(username=user.get_username())
