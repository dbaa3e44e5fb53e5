import itertools

import pytest

from evaluations.models import Candidate, Output, Pair, Prompt, Study
from raters.models import Membership, Rater
from tests.factories import MembershipFactory, RaterFactory, StudyFactory


def study_with_pairs(
    *,
    n_prompts: int,
    n_candidates: int = 3,
    pairs_per_prompt: int | None = None,
    labels: list[str] | None = None,
    models: list[str] | None = None,
    **study_fields: object,
) -> Study:
    """An open study with outputs for every (prompt, candidate) and pairs built in bulk."""
    study = StudyFactory(status=Study.Status.OPEN, **study_fields)
    candidates = [
        Candidate.objects.create(
            study=study,
            label=labels[i] if labels else f"Candidate {i}",
            model=models[i] if models else f"openai/model-{i}",
        )
        for i in range(n_candidates)
    ]
    prompts = Prompt.objects.bulk_create(
        Prompt(study=study, external_id=f"p{i}", text=f"Question {i}?") for i in range(n_prompts)
    )
    outputs = Output.objects.bulk_create(
        Output(
            prompt=prompt,
            candidate=candidate,
            status=Output.Status.DONE,
            text=f"Answer to {prompt.external_id} number {j}.",
        )
        for prompt in prompts
        for j, candidate in enumerate(candidates)
    )
    by_prompt = {p.pk: [o for o in outputs if o.prompt_id == p.pk] for p in prompts}
    pairs = []
    for prompt in prompts:
        combos = list(itertools.combinations(by_prompt[prompt.pk], 2))
        for a, b in combos[:pairs_per_prompt]:
            pairs.append(Pair(study=study, prompt=prompt, output_a=a, output_b=b))
    Pair.objects.bulk_create(pairs)
    return study


def join(study: Study, rater: Rater | None = None) -> Rater:
    rater = rater or RaterFactory()
    MembershipFactory(rater=rater, study=study)
    return rater


@pytest.fixture
def open_study(db) -> Study:
    return study_with_pairs(n_prompts=4, n_candidates=3)


@pytest.fixture
def rater(open_study: Study) -> Rater:
    return join(open_study)


__all__ = ["Membership", "join", "study_with_pairs"]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Real hashing costs ~0.3 s per rater; these tests create hundreds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
