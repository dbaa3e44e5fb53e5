"""Token authentication with failed attempts limited per client address, like the sign-in forms."""

from typing import Any

from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request

from raters.ratelimit import client_address
from raters.signin_limits import TOKENS, signin_failure_record, signin_lock_remaining


class LimitedTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Request) -> Any:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None
        address = client_address(request)
        seconds = signin_lock_remaining(scope=TOKENS, address=address)
        if seconds:
            raise Throttled(wait=seconds, detail="Too many failed sign-ins from your address.")
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            signin_failure_record(scope=TOKENS, address=address)
            raise
