"""External panels (Prolific, MTurk, any platform that passes an id and takes a redirect back).

A participant arrives with the platform's ids in the query string and becomes a rater without a
password. The platform id is never stored: only an HMAC of it under SECRET_KEY (a pseudonym key
that finds the same rater again), and likewise for Prolific's SESSION_ID, which a returning
participant must present again, so knowing someone's participant id is not enough to take over
their rater. The completion redirect goes only to the panel's configured URL.
"""

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from raters.models import Membership, Panel, PanelParticipant, Rater
from raters.training_state import training_initial

PANEL_SESSION_KEY = "panel"
PROLIFIC_PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
GENERIC_ID_PARAM = "participant_id"
# Platform ids are short opaque tokens (Prolific's are 24 hex digits); anything else is refused.
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class PanelRefused(Exception):
    """The entry cannot go on; the message is safe to show whoever opened the link."""


@dataclass(frozen=True)
class PanelEntry:
    participant_id: str
    study_id: str = ""
    session_id: str = ""


@dataclass(frozen=True)
class PanelSession:
    """What the voting pages need to know about a signed-in participant, kept in their session."""

    study_id: int
    key: str
    started_at: float
    max_pairs: int | None
    max_minutes: int | None
    state: str

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def panel_id_param(panel: Panel) -> str:
    if panel.platform == Panel.Platform.PROLIFIC:
        return "PROLIFIC_PID"
    return panel.id_param or GENERIC_ID_PARAM


def _external_id(value: str | None, name: str, *, required: bool) -> str:
    value = (value or "").strip()
    if not value:
        if required:
            raise PanelRefused(
                f"The link is missing {name}. Please open the study again from "
                "the platform you came from."
            )
        return ""
    if not EXTERNAL_ID.match(value):
        raise PanelRefused(f"The {name} in the link is not valid.")
    return value


def panel_entry_parse(panel: Panel, params: Mapping[str, str]) -> PanelEntry:
    """The participant's ids from the query string, checked; PanelRefused otherwise."""
    if not panel.enabled:
        raise PanelRefused("This study is not taking participants from this platform.")
    if not panel.study.is_open:
        raise PanelRefused("This study is not open at the moment. Please try again later.")
    if panel.platform == Panel.Platform.PROLIFIC:
        entry = PanelEntry(
            participant_id=_external_id(params.get("PROLIFIC_PID"), "PROLIFIC_PID", required=True),
            study_id=_external_id(params.get("STUDY_ID"), "STUDY_ID", required=True),
            session_id=_external_id(params.get("SESSION_ID"), "SESSION_ID", required=True),
        )
        if panel.external_study_id and not hmac.compare_digest(
            entry.study_id, panel.external_study_id
        ):
            raise PanelRefused("This link belongs to another study.")
        return entry
    name = panel_id_param(panel)
    return PanelEntry(participant_id=_external_id(params.get(name), name, required=True))


def _digest(panel: Panel, purpose: str, value: str) -> str:
    message = f"raters.panel:{purpose}:{panel.pk}:{value}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def participant_pseudonym(panel: Panel, participant_id: str) -> str:
    return _digest(panel, "participant", participant_id)


def participant_enter(
    *, panel: Panel, entry: PanelEntry, now: datetime | None = None
) -> PanelParticipant:
    """Create the participant's rater, or find it again; PanelRefused if the session differs."""
    now = now or timezone.now()
    pseudonym = participant_pseudonym(panel, entry.participant_id)
    session_digest = _digest(panel, "session", entry.session_id) if entry.session_id else ""
    existing = PanelParticipant.objects.select_related("rater__user").filter(
        panel=panel, pseudonym=pseudonym
    )
    participant = existing.first()
    if participant is None:
        try:
            with transaction.atomic():
                user = get_user_model().objects.create_user(
                    username=f"panel-{panel.pk}-{pseudonym[:32]}", password=None
                )
                rater = Rater.objects.create(user=user, display_name=f"Participant {pseudonym[:8]}")
                Membership.objects.create(
                    rater=rater, study=panel.study, training=training_initial(panel.study)
                )
                return PanelParticipant.objects.create(
                    panel=panel,
                    pseudonym=pseudonym,
                    session_digest=session_digest,
                    rater=rater,
                    started_at=now,
                )
        except IntegrityError:
            # The same participant's other tab won the race: resume theirs below.
            participant = existing.get()
    if not hmac.compare_digest(participant.session_digest, session_digest):
        raise PanelRefused(
            "This participant id is already taking part in another session. Please continue "
            "in the session you started, or contact the researcher."
        )
    return participant


def panel_session_of(participant: PanelParticipant) -> PanelSession:
    panel = participant.panel
    return PanelSession(
        study_id=panel.study_id,
        key=panel.key,
        started_at=participant.started_at.timestamp(),
        max_pairs=panel.max_pairs,
        max_minutes=panel.max_minutes,
        state=participant.state,
    )


def panel_quota_reached(*, session: PanelSession, voted: int, now: datetime) -> bool:
    """Whether the participant has done their share: pairs voted, or minutes since starting."""
    if session.state != PanelParticipant.State.ACTIVE:
        return True
    if session.max_pairs is not None and voted >= session.max_pairs:
        return True
    if session.max_minutes is not None:
        elapsed = now.timestamp() - session.started_at
        return elapsed >= timedelta(minutes=session.max_minutes).total_seconds()
    return False


def participant_screen_out(*, participant: PanelParticipant, now: datetime | None = None) -> None:
    """Failed qualification: they leave with the screen-out code and vote no more."""
    PanelParticipant.objects.filter(pk=participant.pk, state=PanelParticipant.State.ACTIVE).update(
        state=PanelParticipant.State.SCREENED_OUT, finished_at=now or timezone.now()
    )
    participant.refresh_from_db(fields=["state", "finished_at"])


def participant_complete(*, participant: PanelParticipant, now: datetime | None = None) -> None:
    PanelParticipant.objects.filter(pk=participant.pk, state=PanelParticipant.State.ACTIVE).update(
        state=PanelParticipant.State.COMPLETED, finished_at=now or timezone.now()
    )
    participant.refresh_from_db(fields=["state", "finished_at"])


def participant_code(participant: PanelParticipant) -> str:
    panel = participant.panel
    if participant.state == PanelParticipant.State.SCREENED_OUT and panel.screenout_code:
        return panel.screenout_code
    return panel.completion_code


def completion_url_is_safe(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.netloc) and "@" not in parts.netloc


def panel_completion_redirect(participant: PanelParticipant) -> str | None:
    """The configured completion URL with the participant's code; None to show the code."""
    panel = participant.panel
    if not panel.completion_url or not completion_url_is_safe(panel.completion_url):
        return None
    parts = urlsplit(panel.completion_url)
    code = urlencode({panel.code_param or "cc": participant_code(participant)})
    query = f"{parts.query}&{code}" if parts.query else code
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def panel_entry_url(panel: Panel) -> str:
    """The path to give the platform, with its placeholders for the participant's ids."""
    path = reverse("raters:panel_enter", kwargs={"key": panel.key})
    if panel.platform == Panel.Platform.PROLIFIC:
        return path + "?" + "&".join(f"{name}={{{{%{name}%}}}}" for name in PROLIFIC_PARAMS)
    return f"{path}?{panel_id_param(panel)}="
