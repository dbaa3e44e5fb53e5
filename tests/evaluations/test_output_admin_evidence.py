"""Outputs in the admin: what raters saw and what was measured is evidence, shown read-only."""

import pytest
from django.urls import reverse

from evaluations.models import Output
from tests.factories import OutputFactory

pytestmark = pytest.mark.django_db


def test_latency_is_shown_in_whole_milliseconds(client, staff_user):
    OutputFactory(latency_ms=25566.030941999998, ttft_ms=812.49)
    client.force_login(staff_user)
    page = client.get(reverse("admin:evaluations_output_changelist")).content.decode()
    assert "25566.03" not in page
    assert "25,566 ms" in page
    assert "812 ms" in page


def test_change_page_shows_formatted_latency_and_no_inputs_for_evidence(client, staff_user):
    output = OutputFactory(latency_ms=25566.030941999998, cost_usd="0.00031000", output_tokens=40)
    client.force_login(staff_user)
    page = client.get(reverse("admin:evaluations_output_change", args=[output.pk])).content.decode()
    assert "25,566 ms" in page
    for field in ("text", "raw_text", "latency_ms", "ttft_ms", "input_tokens", "output_tokens",
                  "cost_usd", "prompt", "candidate", "status"):  # fmt: skip
        assert f'name="{field}"' not in page, field


def test_posting_the_change_form_does_not_alter_evidence(client, staff_user):
    output = OutputFactory(text="What raters saw", latency_ms=300.0, output_tokens=40)
    client.force_login(staff_user)
    url = reverse("admin:evaluations_output_change", args=[output.pk])
    client.post(
        url,
        {"text": "rewritten", "raw_text": "rewritten", "latency_ms": "1", "output_tokens": "1",
         "cost_usd": "9", "status": "failed"},
    )  # fmt: skip
    output.refresh_from_db()
    assert (output.text, output.latency_ms, output.output_tokens, output.status) == (
        "What raters saw", 300.0, 40, Output.Status.DONE,
    )  # fmt: skip


def test_nobody_adds_an_output_by_hand(client, staff_user):
    client.force_login(staff_user)
    assert client.get(reverse("admin:evaluations_output_add")).status_code == 403
