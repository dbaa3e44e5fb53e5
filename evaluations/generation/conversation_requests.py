"""A conversation prompt -> the messages a candidate is sent, and the checks before any call.

A fixed history goes as it is, the last user turn being the one answered. Images and documents
go as data URLs read from the study's storage (the provider never fetches anything from us).
"""

import base64

from evaluations.generation.errors import GenerationError
from evaluations.models import Candidate, Prompt, PromptMedia, Study
from evaluations.providers.capabilities import model_accepts_images


def _media_parts(prompt: Prompt) -> set[str]:
    return {
        part["media"]
        for message in prompt.messages
        for part in message["content"]
        if part["type"] != "text"
    }


def _data_url(media: PromptMedia) -> str:
    with media.file.open("rb") as handle:
        data = handle.read()
    return f"data:{media.content_type};base64,{base64.b64encode(data).decode()}"


def _part_out(part: dict, media: dict[str, PromptMedia]) -> dict:
    if part["type"] == "text":
        return {"type": "text", "text": part["text"]}
    stored = media.get(part["media"])
    if stored is None:
        raise GenerationError(f"a file of the prompt ({part['media'][:12]}) is missing")
    if part["type"] == "image":
        return {"type": "image_url", "image_url": {"url": _data_url(stored)}}
    if stored.content_type.startswith("text/"):
        # Providers take PDFs as file parts; plain text goes as text, named.
        with stored.file.open("rb") as handle:
            text = handle.read().decode("utf-8")
        return {"type": "text", "text": f"{part['filename']}:\n\n{text}"}
    return {
        "type": "file",
        "file": {"filename": part["filename"], "file_data": _data_url(stored)},
    }


def prompt_messages_out(prompt: Prompt) -> list[dict]:
    """The prompt's stored messages with their parts as OpenAI parts (images and PDFs as data
    URLs, text documents as named text); every content a list of parts."""
    wanted = _media_parts(prompt)
    media = {
        m.sha256: m for m in PromptMedia.objects.filter(study_id=prompt.study_id, sha256__in=wanted)
    }
    return [
        {"role": m["role"], "content": [_part_out(part, media) for part in m["content"]]}
        for m in prompt.messages
    ]


def conversation_messages(*, candidate: Candidate, prompt: Prompt) -> list[dict]:
    """The OpenAI-format messages of a fixed-history prompt; the candidate's own system prompt
    comes first, joined with the prompt's."""
    messages = []
    for message in prompt_messages_out(prompt):
        parts = message["content"]
        if all(p["type"] == "text" for p in parts) and message["role"] != "user":
            messages.append(
                {"role": message["role"], "content": "\n\n".join(p["text"] for p in parts)}
            )
        else:
            messages.append({"role": message["role"], "content": parts})
    system = candidate.system_prompt.strip()
    if system:
        if messages and messages[0]["role"] == "system":
            messages[0] = {"role": "system", "content": f"{system}\n\n{messages[0]['content']}"}
        else:
            messages.insert(0, {"role": "system", "content": system})
    return messages


def candidate_images_refusal(candidate: Candidate) -> str:
    """Why the candidate cannot be sent images, or '' when it can (or may)."""
    if candidate.accepts_images == Candidate.Images.YES:
        return ""
    if candidate.accepts_images == Candidate.Images.NO:
        return f"{candidate.label} is set not to accept images"
    if model_accepts_images(candidate.model) is False:
        return (
            f"{candidate.label}: LiteLLM knows {candidate.model} as a model that does not "
            "accept images (set the candidate's 'accepts images' to yes if it does)"
        )
    return ""


def study_conversations_check(*, study: Study, candidates: list[Candidate]) -> None:
    """Refuse, before anything is spent, prompts some candidate cannot be sent."""
    conversations = Prompt.objects.filter(study=study).exclude(messages=[])
    with_images = [
        p.external_id
        for p in conversations.only("external_id", "messages")
        if any(part["type"] == "image" for message in p.messages for part in message["content"])
    ]
    if not with_images:
        return
    refusals = [reason for c in candidates if (reason := candidate_images_refusal(c))]
    if refusals:
        raise GenerationError(
            f"prompt(s) {', '.join(with_images[:5])} hold images, but " + "; ".join(refusals)
        )
