"""The simulated decision demo that `make run` sets up decides something."""

from research.decision.demo import demo_decision_setup
from research.decision.selectors import decision_document
from tests.factories import UserFactory


def test_the_demo_decision_has_two_categories_a_cheaper_choice_and_a_routing_table(db):
    study = demo_decision_setup(owner=UserFactory(is_staff=True, is_superuser=True))
    assert demo_decision_setup(owner=study.owner) == study  # idempotent
    document = decision_document(study=study)
    assert len(document["categories"]) == 2
    recommended = {s["scope"]: s["recommended"] for s in document["categories"]}
    assert all(recommended.values())
    assert set(recommended.values()) != {document["single_best_model"]}
    assert len(document["routing"]["rows"]) == 2
    assert document["routing"]["saving_usd"] not in (None, "0.00")
    assert document["routing"]["quality"]["quality"] is not None
