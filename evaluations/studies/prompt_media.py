"""Images and documents of prompts: checked from their bytes, stored once per study by hash.

The bytes come from a zip uploaded with the prompts or from a data URL in the file; nothing is
ever fetched from the network. The content type is what the bytes are, not what a file name or
a data URL claims.
"""

import base64
import binascii
import hashlib
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from evaluations.models import PromptMedia, Study

IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
DOCUMENT_TYPES = {".pdf": "application/pdf", ".txt": "text/plain", ".md": "text/markdown"}


class MediaRefused(ValueError):
    """Why an image or document cannot be used, in words for the researcher."""


@dataclass(frozen=True)
class Media:
    data: bytes
    content_type: str
    filename: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _size_check(data: bytes, name: str) -> None:
    limit = settings.MAX_MEDIA_BYTES
    if len(data) > limit:
        raise MediaRefused(f"{name} is {len(data):,} bytes; the limit is {limit:,}")


def image_check(data: bytes, name: str) -> Media:
    """An image Pillow can read, of a type every provider takes, not too large to decode."""
    from PIL import Image, UnidentifiedImageError

    _size_check(data, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image_format, (width, height) = image.format, image.size
                if width * height > settings.MAX_IMAGE_PIXELS:
                    raise MediaRefused(
                        f"{name} is {width}x{height} pixels; the limit is "
                        f"{settings.MAX_IMAGE_PIXELS:,} pixels"
                    )
                image.verify()
    except MediaRefused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaRefused(f"{name} is not a readable image") from None
    except Exception:  # noqa: BLE001 - Pillow raises many kinds on corrupt data
        raise MediaRefused(f"{name} is not a readable image (it is damaged)") from None
    if image_format not in IMAGE_TYPES:
        raise MediaRefused(f"{name} is a {image_format} image; use PNG, JPEG, GIF or WebP")
    return Media(data, IMAGE_TYPES[image_format], name)


def document_check(data: bytes, name: str, content_type: str) -> Media:
    """A PDF (by its signature) or UTF-8 text, as the name or data URL says it is."""
    _size_check(data, name)
    if content_type == "application/pdf":
        if not data.startswith(b"%PDF-"):
            raise MediaRefused(f"{name} is named as a PDF but is not one")
    elif content_type in {"text/plain", "text/markdown"}:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise MediaRefused(f"{name} is not UTF-8 text") from None
    else:
        raise MediaRefused(
            f"{name}: documents may be PDF, plain text or Markdown (.pdf, .txt, .md), "
            f"not {content_type or 'this type'}"
        )
    return Media(data, content_type, name)


def document_type(filename: str) -> str:
    for suffix, content_type in DOCUMENT_TYPES.items():
        if filename.lower().endswith(suffix):
            return content_type
    return ""


def data_url_decode(url: str, name: str) -> tuple[str, bytes]:
    """(declared content type, bytes) of a base64 data URL."""
    header, comma, payload = url.partition(",")
    if not comma or not header.startswith("data:") or not header.endswith(";base64"):
        raise MediaRefused(f"{name} is not a base64 data URL (data:<type>;base64,<data>)")
    # Four base64 characters per three bytes: refuse before decoding an oversized one.
    if len(payload) * 3 // 4 > settings.MAX_MEDIA_BYTES + 3:
        raise MediaRefused(
            f"{name} is over {settings.MAX_MEDIA_BYTES:,} bytes, the limit for one file"
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise MediaRefused(f"{name} is not valid base64") from None
    return header[len("data:") : -len(";base64")].strip().lower(), data


def media_store(study: Study, media: Media) -> PromptMedia:
    """The study's stored copy of these bytes, saved through the storage the settings name."""
    digest = media.sha256
    existing = PromptMedia.objects.filter(study=study, sha256=digest).first()
    if existing is not None:
        return existing
    record = PromptMedia(
        study=study,
        sha256=digest,
        content_type=media.content_type,
        size=len(media.data),
        filename=media.filename[:255],
    )
    record.file.save(digest, ContentFile(media.data), save=False)
    record.save()
    return record


def media_delete_files(records: list[PromptMedia]) -> None:
    for record in records:
        if record.file.name:
            default_storage.delete(record.file.name)
