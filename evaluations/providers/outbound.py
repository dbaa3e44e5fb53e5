"""Where the worker may send a request: public addresses, and the non-public ones the operator
allowed (``OUTBOUND_ALLOWED_HOSTS``, ``OUTBOUND_ALLOW_PRIVATE``).

A researcher's api_base must not turn the worker into a client of the internal network (the
cloud metadata service, the database, Redis, an admin port on localhost): its host is resolved
and every address it resolves to must be public, or allowed. The check runs before each call;
an address the host resolves to between the check and LiteLLM's own connection (DNS rebinding)
is not covered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(Exception):
    """The request would go to an address the operator did not allow; never retried."""


class OutboundUnresolved(ConnectionError):
    """The host name did not resolve (perhaps only for now: retried like a connection error)."""


def address_kind(address: IPAddress) -> str | None:
    """What makes an address non-public ("loopback", "private", ...), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for kind in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "non-public"


def _allowed_entries() -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    names: set[str] = set()
    networks = []
    for entry in settings.OUTBOUND_ALLOWED_HOSTS:
        entry = entry.strip().strip("[]")
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return names, networks


def address_allowed(address: IPAddress) -> bool:
    if address_kind(address) is None or settings.OUTBOUND_ALLOW_PRIVATE:
        return True
    _, networks = _allowed_entries()
    plain = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return any(
        candidate in network
        for network in networks
        for candidate in (address, plain)
        if candidate is not None and candidate.version == network.version
    )


async def outbound_url_check(url: str) -> None:
    """Raise OutboundRefused unless every address ``url``'s host resolves to may be reached."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused(f"{url!r} is not an http(s) URL with a host")
    host = parts.hostname.lower().rstrip(".")
    names, _ = _allowed_entries()
    if host in names:
        return
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise OutboundUnresolved(f"could not resolve {host}: {exc}") from None
        addresses = {ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos}
    for address in sorted(addresses, key=str):
        if not address_allowed(address):
            raise OutboundRefused(
                f"refused to call {host}: it resolves to {address}, a {address_kind(address)} "
                "address; the worker calls only public addresses unless the operator allows "
                "others (OUTBOUND_ALLOWED_HOSTS or OUTBOUND_ALLOW_PRIVATE)"
            )
