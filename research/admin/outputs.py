"""Outputs in the admin are evidence: what raters saw and what was measured is read-only.

Only flags a reviewer sets stay editable (identity_leak, and any review field), so the form
keeps working for them; everything generation or an import recorded is shown, not offered.
"""

import math

from django.contrib import admin
from django.http import HttpRequest

from evaluations.models import Output

EVIDENCE_FIELDS = [
    "prompt",
    "candidate",
    "status",
    "attempts",
    "text",
    "raw_text",
    "last_error",
    "latency",
    "ttft",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "served_model",
    "deployment",
    "request_hash",
    "version_mismatch",
    "imported",
    "cache_hit",
]


def milliseconds_text(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.1f} ms" if value < 10 else f"{value:,.0f} ms"


class OutputEvidenceAdminMixin:
    # The raw floats are shown formatted by latency and ttft instead.
    exclude = ["latency_ms", "ttft_ms"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Output | None = None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*EVIDENCE_FIELDS, *(f for f in fields if f not in EVIDENCE_FIELDS)]

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj: Output) -> str:
        return milliseconds_text(obj.latency_ms)

    @admin.display(description="time to first token", ordering="ttft_ms")
    def ttft(self, obj: Output) -> str:
        return milliseconds_text(obj.ttft_ms)
