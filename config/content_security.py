"""A Content-Security-Policy on every response that does not set a stricter one of its own
(the rater pages do: raters.views.strict_csp).

Scripts and style sheets come from this site only: no inline <script>, no inline <style>, no
third party. Style *attributes* are allowed: the results page's charts are matplotlib SVG drawn
inline (searchable, crisp), which styles every shape with one, and the progress bar's widths are
data; an attribute cannot run script nor, without a style sheet, select anything to leak. Images
may be data: URLs (the heatmap's cells are a PNG inside its SVG; Swagger UI's icons).
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
