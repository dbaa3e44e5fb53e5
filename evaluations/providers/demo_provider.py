"""An offline LiteLLM provider for the demo: ``demo/concise``, ``demo/thorough``, ``demo/friendly``.

It is registered with LiteLLM as a ``CustomLLM`` under the ``demo`` prefix, so demo studies go
through exactly the same path as real models (Celery task -> ``litellm.acompletion`` -> stream ->
database row) without network access or keys. Answers are deterministic for a given model and
prompt; each model has its own style and a simulated latency, follow-up turns quote the model's
own previous answer, attached images are described by their size and colours, and
``demo/friendly`` sometimes names itself so that the scrubber has something to find. It is not a
language model: the admin labels every ``demo/`` candidate as a demo model.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import time
from collections.abc import AsyncIterator, Iterator

import litellm
from litellm import CustomLLM, ModelResponse
from litellm.types.utils import GenericStreamingChunk

PROVIDER = "demo"
STYLES = ("concise", "thorough", "friendly")

_OPENERS = {
    "concise": ["In short:", "Briefly:", "Short answer:"],
    "thorough": [
        "Let us work through this carefully.",
        "There are a few parts to this.",
        "Here is a complete answer.",
    ],
    "friendly": [
        "Great question, happy to help!",
        "Thanks for asking, let's sort this out together.",
        "Oh, I can definitely help with that!",
    ],
}
_STEPS = [
    "check the details you already have before changing anything",
    "write down what you tried so far, with the exact messages you saw",
    "try the simplest fix first and confirm whether it changed anything",
    "look for the official documentation or the policy page on this",
    "keep a copy of any receipts, references or ticket numbers",
    "ask for a written confirmation once it is resolved",
    "contact support directly if it is urgent, and mention the reference",
]
_CLOSERS = {
    "concise": ["That is usually enough.", "Done."],
    "thorough": [
        "If none of this works, the problem is probably elsewhere and worth escalating.",
        "Following these steps in order avoids most of the common mistakes.",
    ],
    "friendly": ["Hope that helps, and good luck!", "You've got this, let me know how it goes!"],
}


def _style(model: str) -> str:
    name = model.split("/")[-1]
    return name if name in STYLES else "concise"


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")


def _content_text(content: object) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, list):
        texts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n\n".join(str(p.get("text", "")) for p in texts)
    return str(content or "")


def _parts(message: dict, kind: str) -> list[dict]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [p for p in content if isinstance(p, dict) and p.get("type") == kind]


def _prompt_text(messages: list) -> str:
    users = [_content_text(m.get("content")) for m in messages if m.get("role") == "user"]
    return users[-1] if users else ""


_COLOURS = {
    "black": (0, 0, 0),
    "grey": (128, 128, 128),
    "red": (200, 40, 40),
    "orange": (230, 140, 40),
    "yellow": (230, 210, 50),
    "green": (60, 160, 70),
    "blue": (50, 100, 190),
    "purple": (130, 60, 160),
}


def _colour_name(rgb: tuple[int, ...]) -> str:
    target = rgb[:3]
    return min(
        _COLOURS, key=lambda n: sum((a - b) ** 2 for a, b in zip(_COLOURS[n], target, strict=True))
    )


def _image_note(part: dict) -> str:
    """What the demo "sees": the image's size and its main colours (it reads no content)."""
    spec = part.get("image_url")
    url = spec.get("url", "") if isinstance(spec, dict) else str(spec or "")
    try:
        from PIL import Image

        data = base64.b64decode(url.split(",", 1)[1], validate=True)
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            small = image.convert("RGB").resize((48, 48))
            counts = sorted(small.getcolors(48 * 48), reverse=True)
    except Exception:  # noqa: BLE001 - a demo answers whatever it is sent
        return "I could not open the image you attached."
    names: list[str] = []
    for _, rgb in counts:
        if min(rgb) > 235:  # the background
            continue
        name = _colour_name(rgb)
        if name not in names:
            names.append(name)
    colours = " and ".join(names[:2]) or "no colour to speak of"
    return (
        f"The image you attached is {width}x{height} pixels, mostly {colours} on a light "
        "background (a demo model sees no more than that)."
    )


def _attachment_notes(messages: list) -> list[str]:
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    notes = [_image_note(p) for p in _parts(last, "image_url")]
    for part in _parts(last, "file"):
        name = (part.get("file") or {}).get("filename") or "document"
        notes.append(f"I have the attached document {name} in front of me.")
    return notes


def _earlier_answers(messages: list) -> list[str]:
    return [_content_text(m.get("content")) for m in messages if m.get("role") == "assistant"]


def _follow_up(style: str, turn: int, previous: str) -> str:
    """How a follow-up turn starts: it quotes this model's own previous answer."""
    words = previous.split()
    quoted = " ".join(words[:8]) + ("\u2026" if len(words) > 8 else "")
    if style == "concise":
        return f"Turn {turn}, revising my last answer (\u201c{quoted}\u201d):"
    if style == "thorough":
        return (
            f"This is turn {turn} of our conversation. Earlier I wrote \u201c{quoted}\u201d; "
            "here is the revised version."
        )
    return f"Sure, let me build on what I said before (\u201c{quoted}\u201d)!"


def demo_answer(model: str, messages: list) -> str:
    """The deterministic answer of demo ``model`` to ``messages``.

    A follow-up turn quotes the model's own previous answer (the history it was sent), and an
    attached image is described by its size and colours; a single text question gets the same
    answer as it always has.
    """
    style = _style(model)
    text = _single_answer(style, model, _prompt_text(messages))
    notes = _attachment_notes(messages)
    if notes:
        text = " ".join(notes) + "\n\n" + text
    earlier = _earlier_answers(messages)
    if earlier:
        text = _follow_up(style, len(earlier) + 1, earlier[-1]) + "\n\n" + text
    return text


def _single_answer(style: str, model: str, prompt: str) -> str:
    seed = _digest(model, prompt)
    topic = prompt.rstrip("?.! ").split(".")[0]
    opener = _OPENERS[style][seed % len(_OPENERS[style])]
    closer = _CLOSERS[style][(seed >> 8) % len(_CLOSERS[style])]
    start = (seed >> 16) % len(_STEPS)
    steps = [_STEPS[(start + i) % len(_STEPS)] for i in range({"concise": 2}.get(style, 4))]
    if style == "concise":
        return f"{opener} for \u201c{topic}\u201d, {steps[0]}, then {steps[1]}. {closer}"
    if style == "thorough":
        numbered = "\n".join(
            f"{i}. {step[0].upper()}{step[1:]}." for i, step in enumerate(steps, 1)
        )
        return f"{opener} You asked: \u201c{topic}\u201d.\n\n{numbered}\n\n{closer}"
    intro = opener
    if (seed >> 24) % 3 == 0:
        # Models often name themselves; the scrubber must catch the candidate's own model name.
        intro = f"I'm demo/friendly, your assistant. {opener}"
    body = " ".join(f"You could {step}." for step in steps[:3])
    return f"{intro} About \u201c{topic}\u201d: {body} {closer}"


def _latency(model: str, messages: list) -> float:
    base = {"concise": 0.05, "thorough": 0.2, "friendly": 0.12}[_style(model)]
    return base + (_digest("latency", model, _prompt_text(messages)) % 100) / 1000


# What OpenAI counts for a low-detail image; the demo's images are small.
IMAGE_TOKENS = 85


def demo_prompt_tokens(messages: list) -> int:
    words = sum(len(_content_text(m.get("content")).split()) for m in messages)
    images = sum(len(_parts(m, "image_url")) for m in messages)
    return words + IMAGE_TOKENS * images


def _usage(messages: list, text: str) -> dict:
    prompt_tokens = demo_prompt_tokens(messages)
    completion_tokens = len(text.split())
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [
        " ".join(words[i : i + 6]) + (" " if i + 6 < len(words) else "")
        for i in range(0, len(words), 6)
    ]


class DemoLLM(CustomLLM):
    """The offline demo models. Not a language model: canned, deterministic answers."""

    def completion(
        self, model: str, messages: list, *args: object, **kwargs: object
    ) -> ModelResponse:
        time.sleep(_latency(model, messages))
        text = demo_answer(model, messages)
        return litellm.ModelResponse(
            model=f"{PROVIDER}/{_style(model)}",
            choices=[{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            usage=_usage(messages, text),
        )

    async def acompletion(
        self, model: str, messages: list, *args: object, **kwargs: object
    ) -> ModelResponse:
        await asyncio.sleep(_latency(model, messages))
        text = demo_answer(model, messages)
        return litellm.ModelResponse(
            model=f"{PROVIDER}/{_style(model)}",
            choices=[{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            usage=_usage(messages, text),
        )

    def streaming(
        self, model: str, messages: list, *args: object, **kwargs: object
    ) -> Iterator[GenericStreamingChunk]:
        time.sleep(_latency(model, messages))
        text = demo_answer(model, messages)
        yield from self._chunks(messages, text)

    async def astreaming(
        self, model: str, messages: list, *args: object, **kwargs: object
    ) -> AsyncIterator[GenericStreamingChunk]:
        await asyncio.sleep(_latency(model, messages))
        text = demo_answer(model, messages)
        for chunk in self._chunks(messages, text):
            await asyncio.sleep(0.005)
            yield chunk

    @staticmethod
    def _chunks(messages: list, text: str) -> Iterator[GenericStreamingChunk]:
        pieces = _pieces(text)
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            yield GenericStreamingChunk(
                text=piece,
                is_finished=last,
                finish_reason="stop" if last else "",
                usage=_usage(messages, text) if last else None,
                index=0,
                tool_use=None,
            )


demo_llm = DemoLLM()


def demo_provider_register() -> None:
    """Make ``demo/<name>`` models available to LiteLLM in this process (idempotent)."""
    if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map = [
            *litellm.custom_provider_map,
            {"provider": PROVIDER, "custom_handler": demo_llm},
        ]
    # litellm.completion registers the map lazily; doing it now also covers acompletion.
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
