"""Invite links: signed, expiring, single- or multi-use tickets into one study.

The link carries the invite's random key (192 bits) signed with SECRET_KEY, so a link is both
unguessable and tamper-evident; expiry, use count and revocation live on the row. A use is taken
with a conditional UPDATE, so two people racing for the last use cannot both get in.
"""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from evaluations.models import Study
from raters.models import Invite, Membership, Rater
from raters.training_state import training_initial

SIGNING_SALT = "raters.invite"
DEFAULT_VALIDITY = timedelta(days=14)
DEMO_INVITE_NOTE = "Demo rater (printed by make run)"


class InviteInvalid(Exception):
    """The link is unusable; the message is safe to show whoever opened it."""


def invite_token(invite: Invite) -> str:
    return signing.Signer(salt=SIGNING_SALT).sign(invite.key)


def invite_path(invite: Invite) -> str:
    return reverse("raters:join", kwargs={"token": invite_token(invite)})


def invite_create(
    *,
    study: Study,
    created_by: AbstractBaseUser | None = None,
    max_uses: int | None = 1,
    expires_at: datetime | None = None,
    note: str = "",
) -> Invite:
    return Invite.objects.create(
        study=study,
        created_by=created_by,
        max_uses=max_uses,
        expires_at=expires_at or timezone.now() + DEFAULT_VALIDITY,
        note=note,
    )


def _usable(now: datetime) -> Q:
    return Q(revoked=False, expires_at__gt=now) & (
        Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses"))
    )


def invite_from_token(token: str, *, now: datetime | None = None) -> Invite:
    """The invite a link points to, if it can still be used; else InviteInvalid."""
    now = now or timezone.now()
    try:
        key = signing.Signer(salt=SIGNING_SALT).unsign(token)
    except signing.BadSignature as error:
        raise InviteInvalid("This invite link is not valid.") from error
    invite = Invite.objects.select_related("study").filter(key=key).first()
    if invite is None or invite.revoked:
        raise InviteInvalid("This invite link is not valid.")
    if invite.expires_at <= now:
        raise InviteInvalid("This invite link has expired. Ask the researcher for a new one.")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise InviteInvalid("This invite link has already been used.")
    return invite


def invite_accept(*, invite: Invite, user: AbstractBaseUser, now: datetime | None = None) -> Rater:
    """Join the user to the invite's study, taking one use unless they are already a member."""
    now = now or timezone.now()
    with transaction.atomic():
        rater, _ = Rater.objects.get_or_create(
            user=user, defaults={"display_name": user.get_username()}
        )
        if Membership.objects.filter(rater=rater, study=invite.study).exists():
            return rater
        taken = Invite.objects.filter(_usable(now), pk=invite.pk).update(uses=F("uses") + 1)
        if not taken:
            raise InviteInvalid("This invite link has just been used up or has expired.")
        Membership.objects.create(
            rater=rater, study=invite.study, invite=invite, training=training_initial(invite.study)
        )
    return rater


def rater_register(*, invite: Invite, username: str, display_name: str, password: str) -> Rater:
    """Create an account from an invite and join it to the study, all or nothing."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=username, password=password)
        rater = Rater.objects.create(user=user, display_name=display_name)
        invite_accept(invite=invite, user=user)
    return rater


def invite_for_demo(*, study: Study) -> Invite:
    """A multi-use invite into the demo study that stays valid across `make run` restarts."""
    now = timezone.now()
    invite = Invite.objects.filter(
        study=study, note=DEMO_INVITE_NOTE, revoked=False, expires_at__gt=now + timedelta(days=1)
    ).first()
    return invite or invite_create(
        study=study, max_uses=None, expires_at=now + timedelta(days=365), note=DEMO_INVITE_NOTE
    )
