"""A prompt's images are served only to the study's raters and to researchers who see the study."""

import hashlib

import pytest
from django.test import Client
from django.urls import reverse

from evaluations.studies.importing import prompts_import
from tests.conversations.conftest import data_url, jsonl, png_bytes
from tests.factories import MembershipFactory, RaterFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def imaged():
    study = StudyFactory(owner=UserFactory(is_staff=True))
    image = png_bytes("purple")
    row = {
        "id": "i",
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": data_url(image)}]}
        ],
    }
    prompts_import(study=study, data=jsonl(row), filename="p.jsonl")
    return study, image, hashlib.sha256(image).hexdigest()


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_studys_rater_gets_the_image_with_its_type_and_a_policy_that_runs_nothing(imaged):
    study, image, digest = imaged
    rater = MembershipFactory(study=study, rater=RaterFactory()).rater
    response = _client(rater.user).get(reverse("raters:prompt_media", args=[study.pk, digest]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == image
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Cache-Control"].startswith("private")


def test_the_owner_gets_it_and_strangers_get_the_same_404_as_a_missing_hash(imaged):
    study, _, digest = imaged
    url = reverse("raters:prompt_media", args=[study.pk, digest])
    assert _client(study.owner).get(url).status_code == 200
    other_study = StudyFactory()
    outsider_rater = MembershipFactory(study=other_study, rater=RaterFactory()).rater
    other_researcher = UserFactory(is_staff=True)
    missing = reverse("raters:prompt_media", args=[study.pk, "0" * 64])
    # The hash of another study's image, asked through the other study: still not there.
    through_other = reverse("raters:prompt_media", args=[other_study.pk, digest])
    for user in (outsider_rater.user, other_researcher):
        assert _client(user).get(url).status_code == 404
    assert _client(study.owner).get(missing).status_code == 404
    assert _client(outsider_rater.user).get(through_other).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(
        reverse("raters:login")
    )
