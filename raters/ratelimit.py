"""The client's real address, for limits keyed on it."""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _trusted_networks(allowed: tuple[str, ...]) -> tuple[bool, tuple[Network, ...]]:
    networks = []
    for entry in allowed:
        if entry == "*":
            return True, ()
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # gunicorn ignores what it cannot parse too
    return False, tuple(networks)


def _parsed(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _is_trusted_proxy(address: str) -> bool:
    everyone, networks = _trusted_networks(tuple(settings.FORWARDED_ALLOW_IPS))
    if everyone:
        return True
    parsed = _parsed(address)
    return parsed is not None and any(parsed in network for network in networks)


def client_address(request: HttpRequest) -> str:
    """The address of the client, as the proxies we trust (FORWARDED_ALLOW_IPS, the setting
    gunicorn reads) saw it.

    X-Forwarded-For is written by the client too: each proxy appends the address it saw, so
    the list is read from the right, and the first address not of a trusted proxy is the client.
    From any other peer the header is ignored, and so is a list with anything but addresses in it.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    if not _is_trusted_proxy(remote):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    client = remote
    for hop in reversed(hops):
        parsed = _parsed(hop)
        if parsed is None:
            return client
        client = str(parsed)
        if not _is_trusted_proxy(client):
            return client
    return client
