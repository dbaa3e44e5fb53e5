"""What went wrong on the way to a provider, in words a researcher can act on.

LiteLLM wraps a refused connection, a failed DNS lookup or a TLS failure alike as
"InternalServerError (HTTP 500)": no server ever answered. The cause is found in the
exception's chain (``__cause__``/``__context__``, LiteLLM's ``original_exception``).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [
            getattr(current, "original_exception", None),
            current.__context__,
            current.__cause__,
        ]


def transport_error(exc: BaseException) -> str | None:
    """ "connection refused", "DNS failure", "TLS error" or "timed out" with the system's
    own words, when the call failed before any HTTP answer; None otherwise."""
    chain = list(exception_chain(exc))
    for kind, match in (
        ("DNS failure", lambda e: isinstance(e, socket.gaierror)),
        ("connection refused", lambda e: isinstance(e, ConnectionRefusedError)),
        ("TLS error", lambda e: isinstance(e, ssl.SSLError | ssl.CertificateError)),
        ("connection reset", lambda e: isinstance(e, ConnectionResetError)),
        ("network unreachable", lambda e: isinstance(e, OSError) and e.errno in (101, 113)),
        ("timed out", lambda e: isinstance(e, TimeoutError) or "Timeout" in type(e).__name__),
    ):
        found = next((e for e in chain if match(e)), None)
        if found is not None:
            detail = getattr(found, "strerror", None) or str(found)
            return f"{kind} ({detail})" if detail and detail != kind else kind
    return None
