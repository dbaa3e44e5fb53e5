import itertools
import random

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from evaluations.models import Pair
from tests.factories import (
    CandidateFactory,
    MembershipFactory,
    OutputFactory,
    PairFactory,
    PromptFactory,
    RaterFactory,
    StudyFactory,
    UserFactory,
    VoteFactory,
)


@pytest.fixture
def researcher(db):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_study"))
    return user


@pytest.fixture
def api(researcher) -> APIClient:
    client = APIClient()
    client.force_authenticate(researcher)
    return client


def build_study(
    owner, *, models=("alpha", "beta", "gamma"), prompts=12, raters=4, seed=7, strength=None
):
    """A study with every candidate pair on every prompt, voted by every rater (seeded)."""
    rng = random.Random(seed)
    strength = strength or {name: k for k, name in enumerate(models)}
    study = StudyFactory(owner=owner)
    candidates = [CandidateFactory(study=study, label=name) for name in models]
    rater_objs = [RaterFactory() for _ in range(raters)]
    for rater in rater_objs:
        MembershipFactory(rater=rater, study=study)
    for p in range(prompts):
        prompt = PromptFactory(study=study, category="math" if p % 2 else "writing")
        outputs = {
            c.label: OutputFactory(
                prompt=prompt,
                candidate=c,
                text="x" * (20 + 10 * strength[c.label] + p),
                latency_ms=100.0 + 10 * p,
                cost_usd="0.00100000",
                output_tokens=50,
            )
            for c in candidates
        }
        for a, b in itertools.combinations(models, 2):
            pair = PairFactory(study=study, prompt=prompt, output_a=outputs[a], output_b=outputs[b])
            for rater in rater_objs:
                roll = rng.random()
                edge = 0.5 + 0.15 * (strength[a] - strength[b])
                choice = "a" if roll < edge - 0.1 else "b" if roll < 0.9 else "tie"
                left = pair.output_a if rng.random() < 0.5 else pair.output_b
                VoteFactory(
                    pair=pair,
                    rater=rater,
                    choice=choice,
                    left_output=left,
                    time_spent_ms=rng.randint(1000, 9000),
                )
    return study


@pytest.fixture
def voted_study(researcher):
    return build_study(researcher)


def add_gold_pair(study, rater, *, answer: str, choice: str) -> Pair:
    prompt = PromptFactory(study=study, category="writing")
    candidates = list(study.candidates.order_by("id")[:2])
    pair = PairFactory(
        study=study,
        prompt=prompt,
        output_a=OutputFactory(prompt=prompt, candidate=candidates[0]),
        output_b=OutputFactory(prompt=prompt, candidate=candidates[1]),
        gold_answer=answer,
    )
    VoteFactory(pair=pair, rater=rater, choice=choice, left_output=pair.output_a)
    return pair


@pytest.fixture(autouse=True)
def _empty_cache():
    # Test databases reuse ids from one run to the next; a shared Redis cache would not.
    from django.core.cache import cache

    cache.clear()
