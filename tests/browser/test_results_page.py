"""The staff results page, rendered by a real Chromium for a study as a researcher would run it."""

import itertools
import random
from decimal import Decimal

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from evaluations.models import Candidate, Output, Pair, Prompt, Study
from raters.models import Membership, Rater, Vote
from tests.factories import StudyFactory, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "a long enough passphrase"
# (label, provider model, strength, cost per answer in USD, median latency in ms)
MODELS = [
    ("gpt-4o-mini", "openai/gpt-4o-mini", 0.2, "0.00021", 2400.0),
    ("claude-3-5-sonnet-20241022", "anthropic/claude-3-5-sonnet-20241022", 0.9, "0.00740", 5200.0),
    ("llama-3.1-70b-instruct", "together_ai/meta-llama/Llama-3.1-70B", -0.1, "0.00088", 3100.0),
    ("mistral-large-latest", "mistral/mistral-large-latest", 0.4, "0.00410", 4100.0),
    ("gemini-1.5-flash", "gemini/gemini-1.5-flash", 0.0, "0.00012", 1500.0),
]
CATEGORIES = ["coding", "math", "writing"]


def normal_study(owner, *, prompts: int = 18, raters: int = 5, seed: int = 3) -> Study:
    """Five models, every pair on every prompt, every rater on every pair (seeded)."""
    rng = random.Random(seed)
    study = StudyFactory(owner=owner, name="Support answers, spring round")
    candidates = Candidate.objects.bulk_create(
        Candidate(study=study, label=label, model=model) for label, model, *_ in MODELS
    )
    strength = {c.pk: m[2] for c, m in zip(candidates, MODELS, strict=True)}
    prompt_rows = Prompt.objects.bulk_create(
        Prompt(
            study=study,
            external_id=f"q{p}",
            text=f"Question {p}?",
            category=CATEGORIES[p % len(CATEGORIES)],
        )
        for p in range(prompts)
    )
    outputs = Output.objects.bulk_create(
        Output(
            prompt=prompt,
            candidate=c,
            status=Output.Status.DONE,
            text="An answer. " * rng.randint(5, 60),
            cost_usd=Decimal(m[3]) * Decimal(rng.uniform(0.8, 1.2)).quantize(Decimal("0.01")),
            latency_ms=m[4] * rng.uniform(0.7, 1.5),
            ttft_ms=m[4] * rng.uniform(0.1, 0.2),
            input_tokens=120,
            output_tokens=rng.randint(80, 600),
        )
        for prompt in prompt_rows
        for c, m in zip(candidates, MODELS, strict=True)
    )
    by_prompt: dict[int, list[Output]] = {}
    for output in outputs:
        by_prompt.setdefault(output.prompt_id, []).append(output)
    pairs = Pair.objects.bulk_create(
        Pair(study=study, prompt_id=prompt_id, output_a=a, output_b=b)
        for prompt_id, answers in by_prompt.items()
        for a, b in itertools.combinations(answers, 2)
    )
    users = [UserFactory() for _ in range(raters)]
    rater_rows = Rater.objects.bulk_create(Rater(user=u, display_name=u.username) for u in users)
    Membership.objects.bulk_create(Membership(rater=r, study=study) for r in rater_rows)
    votes = []
    for pair, rater in itertools.product(pairs, rater_rows):
        a, b = pair.output_a.candidate_id, pair.output_b.candidate_id
        roll = rng.random()
        p_a = 1 / (1 + 10 ** ((strength[b] - strength[a]) * 1.5))
        choice = "tie" if roll < 0.12 else "both_bad" if roll < 0.16 else None
        choice = choice or ("a" if rng.random() < p_a else "b")
        votes.append(
            Vote(
                study=study,
                pair=pair,
                rater=rater,
                choice=choice,
                left_output=rng.choice([pair.output_a, pair.output_b]),
                time_spent_ms=rng.randint(3000, 40000),
                candidate_a_id=a,
                candidate_b_id=b,
                prompt_id=pair.prompt_id,
            )
        )
    Vote.objects.bulk_create(votes)
    return study


@pytest.mark.django_db(transaction=True)
def test_results_page_shows_every_chart_for_a_normal_study(live_server, page, artifacts):
    cache.clear()
    staff = UserFactory(username="researcher", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    study = normal_study(staff)

    page.goto(f"{live_server.url}/admin/login/?next=/admin/evaluations/study/{study.pk}/results/")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=f"Results: {study.name}")).to_be_visible()

    expect(page.locator("figure.results-chart svg")).to_have_count(4)
    for name in ("ratings", "heatmap", "cost", "latency"):
        chart = page.locator(f"#chart-{name} svg")
        chart.scroll_into_view_if_needed()
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 150
        # Not just axes: every model is named, and drawn (markers, or the heatmap's cells).
        for label, *_ in MODELS:
            expect(chart.locator("text").filter(has_text=label).first).to_be_visible()
        marks = {
            "ratings": 'g[id^="LineCollection"] path',  # the interval bars
            "heatmap": "image",  # the cells
        }.get(name, 'g[id^="PathCollection"] use')  # the scattered models (and legend)
        assert chart.locator(marks).count() >= (1 if name == "heatmap" else len(MODELS))
    # No chart is wider than the page: nothing is cut off or scrolls sideways.
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for label, *_ in MODELS:
        expect(page.locator("table.results-ranking").get_by_text(label, exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts / "results_page.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_results_page_shows_a_ranking_per_turn_beside_the_categories(live_server, page, artifacts):
    """Issue 16: votes cast turn by turn are ranked per turn (turn 2 here reverses turn 1's
    order) in tabs of their own, and the category tabs still work beside them."""
    cache.clear()
    staff = UserFactory(username="researcher", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    study = normal_study(staff, prompts=9, raters=3)
    second = [
        Vote(
            study=study,
            pair_id=v.pair_id,
            rater_id=v.rater_id,
            choice={"a": "b", "b": "a"}.get(v.choice, v.choice),
            left_output_id=v.left_output_id,
            candidate_a_id=v.candidate_a_id,
            candidate_b_id=v.candidate_b_id,
            prompt_id=v.prompt_id,
            turn=2,
        )
        for v in Vote.objects.filter(study=study)
    ]
    Vote.objects.filter(study=study).update(turn=1)
    Vote.objects.bulk_create(second)

    page.goto(f"{live_server.url}/admin/login/?next=/admin/evaluations/study/{study.pk}/results/")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    section = page.locator("#by-turn")
    expect(section.get_by_role("heading", name="By turn")).to_be_visible()
    first_panel, second_panel = section.locator(".panel").nth(0), section.locator(".panel").nth(1)
    expect(first_panel).to_be_visible()
    expect(second_panel).to_be_hidden()
    best_first = first_panel.locator("tbody tr").first.locator("td").nth(1).inner_text()
    section.get_by_text("Turn 2 (").click()
    expect(second_panel).to_be_visible()
    worst_second = second_panel.locator("tbody tr").last.locator("td").nth(1).inner_text()
    assert best_first == worst_second == "claude-3-5-sonnet-20241022"
    page.get_by_text("math (", exact=False).click()
    expect(second_panel).to_be_visible()  # the category tabs are a group of their own
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "results_page_by_turn.png"), full_page=True)
