"""A second demo study for `make run`: outputs imported with measured tokens, cost and latency,
and votes from simulated demo raters, so that the decision page has something to decide.
Everything in it says it is simulated: the study's name, its instructions, the raters' names."""

from __future__ import annotations

import itertools
import math
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction

from evaluations.models import Candidate, Output, Pair, Prompt, Study
from raters.models import Membership, Rater, Vote

DEMO_DECISION_SLUG = "demo-decision-simulated"
# label, model, USD per M input / output tokens, mean output tokens, p95-ish latency (ms),
# simulated strength (Elo) per category.
DEMO_MODELS = [
    ("Large", "demo/thorough", "2.50", "10.00", 420, 2600, {"billing": 60, "technical": 90}),
    ("Medium", "demo/friendly", "0.40", "1.60", 300, 1400, {"billing": 50, "technical": 0}),
    ("Small", "demo/concise", "0.10", "0.40", 160, 700, {"billing": -10, "technical": -120}),
]
CATEGORIES = ("billing", "technical")
PROMPTS_PER_CATEGORY = 16
RATERS = 6


@transaction.atomic
def demo_decision_setup(*, owner) -> Study:
    """Create the simulated decision demo once (seeded, so always the same votes)."""
    study = Study.objects.filter(slug=DEMO_DECISION_SLUG).first()
    if study is not None:
        return study
    rng = random.Random(20261130)
    study = Study.objects.create(
        slug=DEMO_DECISION_SLUG,
        name="Demo: which model per category (simulated votes)",
        owner=owner,
        instructions="A demo of the decision page: outputs and votes are simulated, not real.",
        status=Study.Status.CLOSED,
        votes_per_pair=RATERS,
        decision_constraints={
            "margin_kind": "win_probability",
            "margin": 10,
            "latency_p95_ms": 3000,
            "volumes": {"billing": 40000, "technical": 15000},
            "budget_usd": "150",
            "price_source": "measured",
            "self_hosting_usd_per_hour": "1.20",
        },
    )
    candidates = [
        Candidate.objects.create(
            study=study,
            label=label,
            model=model,
            input_price_per_mtok=Decimal(price_in),
            output_price_per_mtok=Decimal(price_out),
        )
        for label, model, price_in, price_out, *_ in DEMO_MODELS
    ]
    raters = []
    for k in range(RATERS):
        user = get_user_model().objects.create_user(
            username=f"demo-simulated-rater-{k + 1}", password=None
        )
        rater = Rater.objects.create(user=user, display_name=f"Simulated rater {k + 1}")
        Membership.objects.create(rater=rater, study=study)
        raters.append(rater)
    for category in CATEGORIES:
        for n in range(PROMPTS_PER_CATEGORY):
            prompt = Prompt.objects.create(
                study=study,
                external_id=f"{category}-{n + 1}",
                category=category,
                text=f"A simulated {category} request number {n + 1}.",
            )
            outputs = {}
            for candidate, spec in zip(candidates, DEMO_MODELS, strict=True):
                _, _, price_in, price_out, tokens, latency, _ = spec
                tokens_in = rng.randint(80, 160)
                tokens_out = max(20, int(rng.gauss(tokens, tokens / 5)))
                cost = (
                    Decimal(tokens_in) * Decimal(price_in)
                    + Decimal(tokens_out) * Decimal(price_out)
                ) / Decimal(1_000_000)
                outputs[candidate.label] = Output.objects.create(
                    prompt=prompt,
                    candidate=candidate,
                    status=Output.Status.DONE,
                    text=f"(simulated answer of {candidate.label} to {prompt.external_id})",
                    raw_text="(simulated)",
                    imported=True,
                    input_tokens=tokens_in,
                    output_tokens=tokens_out,
                    cost_usd=cost.quantize(Decimal("1e-8")),
                    latency_ms=latency * rng.uniform(0.5, 1.1),
                    ttft_ms=rng.uniform(150, 400),
                )
            strengths = {label: s[category] for label, *_, s in DEMO_MODELS}
            for a, b in itertools.combinations(outputs, 2):
                pair = Pair.objects.create(
                    study=study, prompt=prompt, output_a=outputs[a], output_b=outputs[b]
                )
                p_a = 1 / (1 + math.pow(10, -(strengths[a] - strengths[b]) / 400))
                for rater in raters:
                    roll = rng.random()
                    choice = "tie" if roll < 0.1 else ("a" if rng.random() < p_a else "b")
                    Vote.objects.create(
                        study=study,
                        pair=pair,
                        rater=rater,
                        choice=choice,
                        left_output=pair.output_a if rng.random() < 0.5 else pair.output_b,
                        candidate_a=pair.output_a.candidate,
                        candidate_b=pair.output_b.candidate,
                        prompt=prompt,
                    )
    return study
