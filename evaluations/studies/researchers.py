"""Researcher accounts: staff users in the Researchers group (created by a migration), who see
and change only the studies they own."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

RESEARCHERS_GROUP = "Researchers"


class ResearcherError(Exception):
    pass


def researcher_check_new(*, username: str) -> Group:
    """The Researchers group, if ``username`` is free to become a researcher."""
    user_model = get_user_model()
    if user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).exists():
        raise ResearcherError(f"a user {username!r} already exists")
    group = Group.objects.filter(name=RESEARCHERS_GROUP).first()
    if group is None:
        raise ResearcherError(f"no {RESEARCHERS_GROUP!r} group: run `manage.py migrate` first")
    return group


def researcher_create(*, username: str, password: str, email: str = "") -> AbstractBaseUser:
    """A staff account, not a superuser, in the Researchers group; the password is checked
    against the configured validators (ValidationError) before anything is written."""
    user_model = get_user_model()
    group = researcher_check_new(username=username)
    validate_password(password, user_model(**{user_model.USERNAME_FIELD: username}))
    with transaction.atomic():
        user = user_model.objects.create_user(
            username=username, email=email, password=password, is_staff=True
        )
        user.groups.add(group)
    return user
