"""Which key may go where: the operator's rules for the deployments of candidates and judges.

A deployment reaches a model in one of three ways:

- the provider's own endpoint (no api_base), with the key variable named, which must be on
  ``PROVIDER_KEY_ENV_ALLOWLIST``, or LiteLLM's usual one;
- a provider connection (``connection``): an api_base and key variable set up by the operator,
  in the admin (``ProviderConnection``) or in settings (``PROVIDER_CONNECTIONS``), for the users
  it names or for everyone;
- a free api_base: only on a superuser's study, or on any study with ``ALLOW_CUSTOM_API_BASE``.
  A server key goes to it only when a superuser set it up and named the key variable; otherwise
  a placeholder key is sent, so that LiteLLM never falls back to the provider's default key for
  it, and a keyless endpoint (a local vLLM, Ollama or llama.cpp server) just works.

A provider's own endpoint with no key variable named uses LiteLLM's usual variable; when that is
not set in the worker's environment the call is refused before it is made, naming the variable,
instead of failing five times as a "500" from LiteLLM's client.

The same function (``deployment_authorize``) decides when a candidate or judge is saved (model
``clean()``, the admin, clones) and again in the worker before every call, for rows saved before
these rules or written to the database directly. Where the request may go at all (public
addresses only, unless allowed) is ``evaluations.providers.outbound``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from evaluations.providers.llm_loading import litellm_loaded
from evaluations.providers.outbound import outbound_url_check

# Sent as the key to an api_base no key was approved for: LiteLLM would otherwise send the
# provider's default key (OPENAI_API_KEY, ...) from the environment.
NO_KEY = "tastetest-no-key"
CONNECTIONS_WHERE = "the admin's Provider connections or the PROVIDER_CONNECTIONS setting"


class ProviderAccessRefused(Exception):
    """A deployment would send a key or a request where the operator did not allow it."""


class ProviderKeyMissing(ProviderAccessRefused):
    """The provider's usual key variable is not set where the call would be made."""


@dataclass(frozen=True)
class Deployment:
    api_base: str = ""
    api_key_env: str = ""
    connection: str = ""
    # Set by deployment_authorize: a key may be sent to api_base (a connection's, or one on a
    # superuser's study), and its host may be non-public (a connection's).
    key_approved: bool = False
    host_approved: bool = False

    @property
    def label(self) -> str:
        if self.connection:
            return f"connection {self.connection}"
        return self.api_base or "provider default"


@dataclass(frozen=True)
class Connection:
    name: str
    api_base: str
    api_key_env: str
    usernames: frozenset[str] | None  # None: every user

    def usable_by(self, user: Any) -> bool:
        if user is None:
            return False
        if user.is_superuser or self.usernames is None:
            return True
        return user.get_username() in self.usernames


# -- keys -----------------------------------------------------------------------------------


def key_env_allowed(name: str) -> bool:
    for entry in settings.PROVIDER_KEY_ENV_ALLOWLIST:
        if entry.endswith("*"):
            if name.startswith(entry[:-1]) and len(name) > len(entry) - 1:
                return True
        elif name == entry:
            return True
    return False


def key_env_refusal(name: str) -> str | None:
    """Why ``name`` may not be sent to a provider as a key, or None if it may."""
    if not name or key_env_allowed(name):
        return None
    allowlist = settings.PROVIDER_KEY_ENV_ALLOWLIST
    shown = ", ".join(allowlist[:3]) + (f", ... ({len(allowlist)} in all)" if allowlist[3:] else "")
    prefixes = [entry for entry in allowlist if entry.endswith("*")]
    if prefixes and prefixes[0] not in allowlist[:3]:
        shown += f", {', '.join(prefixes)}"
    return (
        f"the key variable {name!r} is not a provider key the operator allows: only the "
        f"variables in PROVIDER_KEY_ENV_ALLOWLIST ({shown}) may be sent to a provider"
    )


# -- connections ----------------------------------------------------------------------------


def _settings_connection(item: dict) -> Connection:
    users = item.get("users")
    return Connection(
        name=str(item.get("name") or ""),
        api_base=str(item.get("api_base") or "").strip(),
        api_key_env=str(item.get("api_key_env") or "").strip(),
        usernames=None if users is None or users == "*" else frozenset(map(str, users)),
    )


def provider_connections() -> list[Connection]:
    """Every connection: those declared in settings, then the admin's (a name in settings wins)."""
    from evaluations.models import ProviderConnection

    declared = [_settings_connection(item) for item in settings.PROVIDER_CONNECTIONS]
    names = {connection.name for connection in declared}
    rows = ProviderConnection.objects.exclude(name__in=names).prefetch_related("users")
    return declared + [
        Connection(
            name=row.name,
            api_base=row.api_base.strip(),
            api_key_env=row.api_key_env.strip(),
            usernames=None
            if row.available_to_all
            else frozenset(user.get_username() for user in row.users.all()),
        )
        for row in rows
    ]


def provider_connection_get(name: str) -> Connection | None:
    return next((c for c in provider_connections() if c.name == name), None)


def provider_connections_for(user: Any) -> list[Connection]:
    return [connection for connection in provider_connections() if connection.usable_by(user)]


def provider_connection_errors(row: Any) -> dict[str, list[str]]:
    """Field -> what is wrong with a ProviderConnection row (for its clean())."""
    errors = {}
    refusal = key_env_refusal(row.api_key_env.strip())
    if refusal:
        errors["api_key_env"] = [refusal]
    if any(item.get("name") == row.name for item in settings.PROVIDER_CONNECTIONS):
        errors["name"] = [f"{row.name!r} is declared in PROVIDER_CONNECTIONS; choose another"]
    return errors


# -- deployments ----------------------------------------------------------------------------


def deployment_authorize(deployment: Deployment, *, owner: Any) -> Deployment:
    """The deployment as the worker may use it for a study owned by ``owner`` (a connection
    resolved to its api_base and key variable, the approvals set), or ProviderAccessRefused."""
    if deployment.connection:
        if deployment.api_base or deployment.api_key_env:
            raise ProviderAccessRefused(
                "choose either a provider connection or an api_base and key variable, not both"
            )
        connection = provider_connection_get(deployment.connection)
        if connection is None:
            raise ProviderAccessRefused(
                f"there is no provider connection named {deployment.connection!r} "
                f"(the operator sets them up in {CONNECTIONS_WHERE})"
            )
        if not connection.usable_by(owner):
            raise ProviderAccessRefused(
                f"the provider connection {connection.name!r} is not available to the study's "
                f"owner {owner}: the operator grants each connection to named users or to all"
            )
        refusal = key_env_refusal(connection.api_key_env)
        if refusal:
            raise ProviderAccessRefused(f"provider connection {connection.name!r}: {refusal}")
        return Deployment(
            api_base=connection.api_base,
            api_key_env=connection.api_key_env,
            connection=connection.name,
            key_approved=True,
            host_approved=True,
        )
    refusal = key_env_refusal(deployment.api_key_env)
    if refusal:
        raise ProviderAccessRefused(refusal)
    if not deployment.api_base:
        return replace(deployment, key_approved=True, host_approved=False)
    superuser = bool(owner is not None and owner.is_superuser)
    if not superuser and not settings.ALLOW_CUSTOM_API_BASE:
        raise ProviderAccessRefused(
            f"a custom api_base ({deployment.api_base}) is allowed only on a superuser's study "
            f"or with the ALLOW_CUSTOM_API_BASE setting; pick a provider connection instead "
            f"(set up in {CONNECTIONS_WHERE})"
        )
    if deployment.api_key_env and not superuser:
        raise ProviderAccessRefused(
            f"the key in {deployment.api_key_env} may not be sent to a custom api_base "
            f"({deployment.api_base}): server keys go only to an api_base the operator "
            "approved (a provider connection, or one set on a superuser's study); leave the "
            "key variable blank or pick a provider connection"
        )
    return replace(deployment, key_approved=superuser, host_approved=False)


def deployment_errors(deployment: Deployment, *, owner: Any) -> list[str]:
    try:
        deployment_authorize(deployment, owner=owner)
    except ProviderAccessRefused as exc:
        return [str(exc)]
    return []


def _fallback_deployments(entries: Any) -> list[Deployment]:
    if not isinstance(entries, list):
        return []  # the shape is generation's to report
    return [
        Deployment(
            str(entry.get("api_base") or "").strip(),
            str(entry.get("api_key_env") or "").strip(),
            str(entry.get("connection") or "").strip(),
        )
        for entry in entries
        if isinstance(entry, dict)
    ]


def candidate_access_errors(candidate: Any, *, owner: Any) -> dict[str, list[str]]:
    """Field -> why the candidate's deployments may not be used on a study owned by ``owner``."""
    primary = Deployment(
        candidate.api_base.strip(), candidate.api_key_env.strip(), candidate.connection.strip()
    )
    errors: dict[str, list[str]] = {}
    found = deployment_errors(primary, owner=owner)
    if found:
        errors[_field_of(primary)] = found
    for index, fallback in enumerate(_fallback_deployments(candidate.fallback_deployments), 1):
        for message in deployment_errors(fallback, owner=owner):
            errors.setdefault("fallback_deployments", []).append(f"fallback {index}: {message}")
    return errors


def judge_access_errors(judge: Any, *, owner: Any) -> dict[str, list[str]]:
    deployment = Deployment(
        judge.api_base.strip(), judge.api_key_env.strip(), judge.connection.strip()
    )
    found = deployment_errors(deployment, owner=owner)
    return {_field_of(deployment): found} if found else {}


def _field_of(deployment: Deployment) -> str:
    if deployment.connection:
        return "connection"
    if deployment.api_key_env and key_env_refusal(deployment.api_key_env):
        return "api_key_env"
    return "api_base" if deployment.api_base else "api_key_env"


# -- at call time ---------------------------------------------------------------------------

# Providers whose LiteLLM default endpoint is on the worker's own machine.
_LOCAL_DEFAULT_BASES = {
    "ollama": "http://localhost:11434",
    "ollama_chat": "http://localhost:11434",
    "lm_studio": "http://localhost:1234",
}


@lru_cache(maxsize=1024)
def provider_default_base(model: str) -> str:
    """LiteLLM's endpoint for ``model`` when it is on a literal address or localhost (those are
    checked like an api_base); empty for a provider's public endpoint or an unknown model."""
    try:
        _, provider, _, base = litellm_loaded().get_llm_provider(model)
    except Exception:  # noqa: BLE001 - the call itself reports an unknown provider
        return ""
    base = base or _LOCAL_DEFAULT_BASES.get(provider, "")
    host = (urlsplit(base).hostname or "").lower() if base else ""
    if host == "localhost":
        return base
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return ""
    return base


async def deployment_call_kwargs(deployment: Deployment, *, model: str) -> dict[str, str]:
    """LiteLLM's ``api_base`` (and a placeholder ``api_key`` where no key may go) for a call of
    ``model`` on ``deployment``; raises ProviderAccessRefused or outbound.OutboundRefused.

    The caller reads the key itself from ``deployment.api_key_env``, which this has checked.
    """
    refusal = key_env_refusal(deployment.api_key_env)
    if refusal:
        raise ProviderAccessRefused(refusal)
    kwargs: dict[str, str] = {}
    if not deployment.api_base:
        default = provider_default_base(model)
        if default:
            await outbound_url_check(default)
        if not deployment.api_key_env:
            missing = provider_keys_missing(model)
            if missing:
                raise ProviderKeyMissing(
                    f"{' and '.join(missing)} is not set in the worker's environment "
                    f"(the key {model} needs); set it, or name another variable in api_key_env"
                )
        return kwargs
    if not deployment.host_approved:
        await outbound_url_check(deployment.api_base)
    kwargs["api_base"] = deployment.api_base
    if not deployment.key_approved or not deployment.api_key_env:
        if deployment.api_key_env:
            raise ProviderAccessRefused(
                f"the key in {deployment.api_key_env} may not be sent to {deployment.api_base}: "
                "no operator approved that api_base"
            )
        kwargs["api_key"] = NO_KEY
    return kwargs


def provider_keys_missing(model: str) -> list[str]:
    """LiteLLM's usual key variables for ``model``'s provider that are not set (empty for a
    provider LiteLLM does not know, such as the offline demo provider, or one needing no key)."""
    litellm = litellm_loaded()
    provider = model.split("/", 1)[0] if "/" in model else ""
    if provider and provider not in litellm.provider_list:
        return []
    try:
        found = litellm.validate_environment(model=model)
    except Exception:  # LiteLLM's guess is advice; the call itself reports what it lacks
        return []
    return [name for name in found.get("missing_keys", []) if name.endswith("_KEY")]
