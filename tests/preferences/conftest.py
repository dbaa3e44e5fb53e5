import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from tests.factories import StudyFactory, UserFactory


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


@pytest.fixture
def own_study(researcher):
    return StudyFactory(owner=researcher)
