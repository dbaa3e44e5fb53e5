"""The membership list computes the page's gold accuracies in one query, not two per row."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evaluations.models import Pair
from tests.factories import MembershipFactory, RaterFactory, VoteFactory

pytestmark = pytest.mark.django_db


def test_membership_list_queries_do_not_grow_with_the_rows(client, staff_user, study):
    client.force_login(staff_user)
    counts = []
    for n in (2, 30):
        while study.memberships.count() < n:
            MembershipFactory(rater=RaterFactory(), study=study)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("admin:raters_membership_changelist"))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_membership_list_shows_gold_accuracy(client, staff_user):
    vote = VoteFactory(choice="a")
    Pair.objects.filter(pk=vote.pair_id).update(gold_answer="a")
    MembershipFactory(rater=vote.rater, study=vote.study)
    client.force_login(staff_user)
    page = client.get(reverse("admin:raters_membership_changelist")).content.decode()
    assert "100% of 1" in page
