"""A small fixed-window rate limiter on the Django cache, for the login and invite forms."""

from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is set by the client unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR", "unknown")


def rate_limit_hit(*, scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one attempt; True when this attempt is over the limit for the current window."""
    cache_key = f"raters:ratelimit:{scope}:{key}"
    # add() is atomic on every backend: only the first attempt of a window sets the expiry.
    if cache.add(cache_key, 1, timeout=window_seconds):
        return False
    try:
        count = cache.incr(cache_key)
    except ValueError:
        # The window expired between add() and incr(): this attempt starts a new one.
        cache.add(cache_key, 1, timeout=window_seconds)
        return False
    return count > limit
