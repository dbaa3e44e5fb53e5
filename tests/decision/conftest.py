from decimal import Decimal

import pytest

from evaluations.models import Output
from tests.api.conftest import api, build_study, researcher  # noqa: F401 - fixtures


def price_outputs(study, costs: dict[str, str]) -> None:
    """Give each candidate's outputs a cost per request (None: no cost recorded) and tokens."""
    for label, cost in costs.items():
        Output.objects.filter(candidate__study=study, candidate__label=label).update(
            cost_usd=None if cost is None else Decimal(cost), input_tokens=100, output_tokens=50
        )


@pytest.fixture
def decided_study(researcher):  # noqa: F811
    # gamma strongest, beta and alpha weaker (build_study's strengths 2, 1, 0).
    study = build_study(researcher, prompts=16, raters=6)
    price_outputs(study, {"alpha": "0.00010000", "beta": "0.00050000", "gamma": "0.00300000"})
    return study
