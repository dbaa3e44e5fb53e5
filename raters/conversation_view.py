"""A conversation pair as the rater sees it: the shared history once, then each turn's two
answers side by side. Blind like every pair: only scrubbed answers, and images and documents
through the study's own authenticated view."""

from django.urls import reverse

from evaluations.models import Output, Prompt, PromptMedia
from raters.rendering import markdown_render

ROLE_LABELS = {"system": "Instructions given to both", "user": "User", "assistant": "Assistant"}
# A text document longer than this is cut in the panel (the whole file opens from its link).
DOCUMENT_PANEL_CHARS = 200_000


def _part_view(part: dict, study_id: int, media: dict[str, PromptMedia]) -> dict:
    if part["type"] == "text":
        return {"kind": "text", "html": markdown_render(part["text"])}
    url = reverse("raters:prompt_media", args=[study_id, part["media"]])
    if part["type"] == "image":
        return {"kind": "image", "url": url}
    view = {"kind": "document", "url": url, "filename": part.get("filename", "document")}
    stored = media.get(part["media"])
    if stored is not None and stored.content_type.startswith("text/"):
        with stored.file.open("rb") as handle:
            view["text"] = handle.read(DOCUMENT_PANEL_CHARS).decode("utf-8", "replace")
    return view


def _message_view(message: dict, study_id: int, media: dict[str, PromptMedia]) -> dict:
    return {
        "role": message["role"],
        "label": ROLE_LABELS[message["role"]],
        "parts": [_part_view(p, study_id, media) for p in message["content"]],
    }


def conversation_pair_view(prompt: Prompt, left: Output, right: Output) -> dict:
    """history: messages shown once; turns: [{user_html, a_html, b_html}] side by side."""
    wanted = {p["media"] for m in prompt.messages for p in m["content"] if p["type"] != "text"}
    media = {
        m.sha256: m for m in PromptMedia.objects.filter(study_id=prompt.study_id, sha256__in=wanted)
    }
    history = [_message_view(m, prompt.study_id, media) for m in prompt.messages]
    if prompt.turns:
        turns = [
            {
                "user_html": markdown_render(text),
                "a_html": markdown_render(_turn_text(left, index)),
                "b_html": markdown_render(_turn_text(right, index)),
            }
            for index, text in enumerate(prompt.turns)
        ]
        return {"history": history, "turns": turns}
    # A fixed history: its last user message is the turn both answered.
    last = history.pop() if history else None
    return {
        "history": history,
        "turns": [
            {
                "user_parts": last["parts"] if last else [],
                "a_html": markdown_render(left.text),
                "b_html": markdown_render(right.text),
            }
        ],
    }


def _turn_text(output: Output, index: int) -> str:
    return output.turns[index]["text"] if index < len(output.turns) else ""
