"""A prompt's images and documents, to the study's raters and to those who may see the study.

Anyone else, and any hash that is not the study's, gets the same 404. The file is sent with the
type found when it was imported, never sniffed, and under a policy that lets it run nothing.
"""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from evaluations.models import PromptMedia
from evaluations.studies.access import studies_visible_to
from raters.models import Membership

MEDIA_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def prompt_media_for_user(user: object, study_id: int, digest: str) -> PromptMedia:
    may_see = (
        Membership.objects.filter(rater__user_id=user.pk, study_id=study_id).exists()
        or studies_visible_to(user).filter(pk=study_id).exists()
    )
    media = (
        PromptMedia.objects.filter(study_id=study_id, sha256=digest).first() if may_see else None
    )
    if media is None:
        raise Http404
    return media


@login_required
@require_GET
def prompt_media(request: HttpRequest, study_id: int, digest: str) -> HttpResponse:
    media = prompt_media_for_user(request.user, study_id, digest)
    try:
        handle = media.file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    response = FileResponse(
        handle,
        content_type=media.content_type,
        as_attachment=not (media.is_image or media.content_type == "application/pdf"),
        filename=media.filename.rsplit("/", 1)[-1] or media.sha256,
    )
    response.headers["Content-Security-Policy"] = MEDIA_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The bytes behind a hash never change; only the study's people may keep them.
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response
