"""A zip of prompts: one CSV/JSONL file and the images and documents its lines name.

Read with limits before anything is decompressed in full: the number of files, each file's
size as the archive declares it and as it actually inflates, and no names that climb out
(``../``) or are absolute.
"""

import posixpath
import zipfile
from dataclasses import dataclass, field
from io import BytesIO

from django.conf import settings

from evaluations.studies.prompt_media import MediaRefused

PROMPT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")
MAX_ARCHIVE_FILES = 10_000


class ArchiveRefused(ValueError):
    pass


def is_zip(data: bytes, filename: str) -> bool:
    return data[:4] == b"PK\x03\x04" or filename.lower().endswith(".zip")


def _clean(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/")).lstrip("./") if name else ""


@dataclass
class PromptArchive:
    archive: zipfile.ZipFile
    prompt_name: str
    members: dict[str, zipfile.ZipInfo] = field(default_factory=dict)

    def _read(self, info: zipfile.ZipInfo, limit: int, name: str) -> bytes:
        if info.file_size > limit:
            raise MediaRefused(f"{name!r} is {info.file_size:,} bytes; the limit is {limit:,}")
        try:
            with self.archive.open(info) as handle:
                data = handle.read(limit + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
            raise MediaRefused(f"{name!r} cannot be read from the zip ({exc})") from None
        if len(data) > limit:  # the header understated it
            raise MediaRefused(f"{name!r} is over {limit:,} bytes, the limit")
        return data

    def prompt_file(self) -> bytes:
        return self._read(
            self.members[self.prompt_name], settings.MAX_IMPORT_BYTES, self.prompt_name
        )

    def media_read(self, name: str) -> bytes:
        """A file the prompt file names, relative to the prompt file's folder."""
        folder = posixpath.dirname(self.prompt_name)
        raw = name.replace("\\", "/")
        if raw.startswith("/") or ".." in raw.split("/"):
            raise MediaRefused(f"{name[:80]!r}: name files by their path inside the zip")
        key = _clean(posixpath.join(folder, raw))
        if key not in self.members:
            raise MediaRefused(f"{name[:80]!r} is not in the zip")
        return self._read(self.members[key], settings.MAX_MEDIA_BYTES, name)


def archive_open(data: bytes) -> PromptArchive:
    try:
        archive = zipfile.ZipFile(BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveRefused(f"the zip cannot be read ({exc})") from None
    if len(infos) > MAX_ARCHIVE_FILES:
        raise ArchiveRefused(
            f"the zip holds {len(infos):,} files; the limit is {MAX_ARCHIVE_FILES:,}"
        )
    members = {
        _clean(info.filename): info
        for info in infos
        if not info.is_dir() and not _clean(info.filename).startswith("__MACOSX/")
    }
    prompt_files = sorted(name for name in members if name.lower().endswith(PROMPT_SUFFIXES))
    if len(prompt_files) != 1:
        found = ", ".join(prompt_files[:5]) or "none"
        raise ArchiveRefused(
            f"the zip must hold exactly one prompt file (.jsonl or .csv); it holds {found}"
        )
    return PromptArchive(archive, prompt_files[0], members)
