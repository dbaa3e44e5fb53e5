"""A prompt line's `messages` or `turns` -> the stored conversation, or the reasons it is refused.

`messages` is the OpenAI chat format: system/user/assistant messages whose content is a string
or a list of parts (`text`, `image_url`, `file`); it is a fixed history ending with the user's
message. `turns` is MT-Bench's: the user's turns as strings (optionally with `system`). Images
and documents are data URLs or names of files in the zip uploaded with the JSONL; a web address
is refused, never fetched.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from evaluations.studies.prompt_media import (
    Media,
    MediaRefused,
    data_url_decode,
    document_check,
    document_type,
    image_check,
)

ROLES = ("system", "user", "assistant")
MAX_MESSAGES = 200
MAX_TURNS = 50

# Reads a file of the uploaded zip by the name the JSONL gives it; MediaRefused if absent.
ArchiveReader = Callable[[str], bytes]


@dataclass
class Conversation:
    messages: list[dict] = field(default_factory=list)
    turns: list[str] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The prompt's text as lists and exports show it: the last (or first scripted) turn."""
        if self.turns:
            return self.turns[0]
        last = self.messages[-1]["content"] if self.messages else []
        return "\n\n".join(p["text"] for p in last if p["type"] == "text")


def _no_archive(name: str) -> bytes:
    raise MediaRefused(
        f"{name!r} names a file, but the JSONL was not uploaded in a zip with its files"
    )


def _source(value: object, where: str, read: ArchiveReader) -> tuple[str, bytes, str]:
    """(declared content type, bytes, name) of a data URL or a file of the zip."""
    if not isinstance(value, str) or not value.strip():
        raise MediaRefused(f"{where}: give a data URL or the name of a file in the zip")
    value = value.strip()
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    if scheme == "data":
        content_type, data = data_url_decode(value, where)
        return content_type, data, ""
    if scheme in {"http", "https", "ftp", "file"} or value.startswith("//"):
        raise MediaRefused(
            f"{where}: {value[:80]!r} is an address; tastetest never fetches files from the "
            "network: put the file in the zip next to the JSONL, or give a data URL"
        )
    try:
        return "", read(value), value
    except MediaRefused as exc:
        raise MediaRefused(f"{where}: {exc}") from None


def _part(part: object, where: str, role: str, read: ArchiveReader) -> tuple[dict, Media | None]:
    if isinstance(part, str):
        part = {"type": "text", "text": part}
    if not isinstance(part, dict):
        raise MediaRefused(f"{where}: a part must be an object, got {type(part).__name__}")
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise MediaRefused(f"{where}: a text part needs a string 'text'")
        return {"type": "text", "text": text}, None
    if kind not in {"image_url", "file"}:
        raise MediaRefused(
            f"{where}: unknown part type {str(kind)[:40]!r}; use text, image_url or file"
        )
    if role != "user":
        raise MediaRefused(f"{where}: images and files may only be in the user's messages")
    if kind == "image_url":
        spec = part.get("image_url")
        url = spec.get("url") if isinstance(spec, dict) else spec
        declared, data, name = _source(url, where, read)
        if declared and not declared.startswith("image/"):
            raise MediaRefused(f"{where}: an image_url holds {declared}, not an image")
        media = image_check(data, f"{where} ({name})" if name else where)
        media = Media(media.data, media.content_type, name)
        return {"type": "image", "media": media.sha256, "content_type": media.content_type}, media
    spec = part.get("file")
    if not isinstance(spec, dict):
        raise MediaRefused(f"{where}: a file part needs a 'file' object (filename, file_data)")
    filename = spec.get("filename")
    source = spec.get("file_data") or filename
    declared, data, name = _source(source, where, read)
    filename = str(filename or name or "document").strip()[:255]
    content_type = declared or document_type(filename)
    media = document_check(data, f"{where} ({filename})", content_type)
    media = Media(media.data, media.content_type, filename)
    part_out = {
        "type": "file",
        "media": media.sha256,
        "content_type": media.content_type,
        "filename": filename,
    }
    return part_out, media


def _messages(value: object, read: ArchiveReader, errors: list[str]) -> Conversation:
    conversation = Conversation()
    if not isinstance(value, list) or not value:
        errors.append("messages must be a non-empty list of {role, content} objects")
        return conversation
    if len(value) > MAX_MESSAGES:
        errors.append(f"messages has {len(value)} messages; the limit is {MAX_MESSAGES}")
        return conversation
    for index, message in enumerate(value, start=1):
        where = f"message {index}"
        if not isinstance(message, dict):
            errors.append(f"{where}: expected an object with role and content")
            continue
        role = message.get("role")
        if role not in ROLES:
            errors.append(
                f"{where}: unknown role {str(role)[:40]!r}; use system, user or assistant"
            )
            continue
        if role == "system" and index != 1:
            errors.append(f"{where}: a system message may only come first")
        content = message.get("content")
        parts = [content] if isinstance(content, str) else content
        if not isinstance(parts, list) or not parts:
            errors.append(f"{where}: content must be a string or a non-empty list of parts")
            continue
        stored: list[dict] = []
        for number, part in enumerate(parts, start=1):
            try:
                part_out, media = _part(part, f"{where} part {number}", role, read)
            except MediaRefused as exc:
                errors.append(str(exc))
                continue
            stored.append(part_out)
            if media is not None:
                conversation.media.append(media)
        complete = len(stored) == len(parts)
        if complete and not any(p["type"] != "text" or p["text"].strip() for p in stored):
            errors.append(f"{where}: empty content")
        conversation.messages.append({"role": role, "content": stored})
    if conversation.messages and conversation.messages[-1]["role"] != "user" and not errors:
        errors.append(
            "the last message must be the user's (the turn every candidate answers); "
            f"it is {conversation.messages[-1]['role']!r}"
        )
    return conversation


def _turns(value: object, system: object, errors: list[str]) -> Conversation:
    conversation = Conversation()
    if not isinstance(value, list) or not value:
        errors.append("turns must be a non-empty list of the user's messages")
        return conversation
    if len(value) > MAX_TURNS:
        errors.append(f"turns has {len(value)} turns; the limit is {MAX_TURNS}")
        return conversation
    for index, turn in enumerate(value, start=1):
        if not isinstance(turn, str) or not turn.strip():
            errors.append(f"turn {index}: must be non-empty text")
    if system is not None:
        if not isinstance(system, str):
            errors.append("system must be text")
        elif system.strip():
            conversation.messages = [
                {"role": "system", "content": [{"type": "text", "text": system}]}
            ]
    conversation.turns = [t for t in value if isinstance(t, str)]
    return conversation


def conversation_parse(row: dict, read: ArchiveReader | None) -> tuple[Conversation, list[str]]:
    """The conversation of a JSONL line that has `messages` or `turns`, and its problems."""
    errors: list[str] = []
    given = [key for key in ("text", "messages", "turns") if key in row]
    if len(given) > 1:
        return Conversation(), [f"give one of text, messages or turns, not {' and '.join(given)}"]
    if "system" in row and "turns" not in row:
        errors.append("system goes with turns; with messages, make it the first message")
    if "messages" in row:
        conversation = _messages(row["messages"], read or _no_archive, errors)
    else:
        conversation = _turns(row["turns"], row.get("system"), errors)
    return conversation, errors
