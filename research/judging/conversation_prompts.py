"""The judge's request for a conversation pair, in MT-Bench's multi-turn pairwise format
("pair-v2-multi-turn", Zheng et al. 2023): the part of the conversation both candidates were
given, once, then each assistant's own conversation turn by turn between
``<|The Start of Assistant A's Conversation with User|>`` and its end marker.

What the judge sees is what the raters see: the scrubbed answers (never ``raw_text``), under the
letters A and B only. A fixed history is shared whole (its last user message is the turn both
answered), so each assistant's conversation is its answer; scripted turns are repeated in each
conversation, as MT-Bench does, each followed by that assistant's own answer. Images and PDFs are
sent once, in the shared part, as the candidates were sent them, to a judge that LiteLLM does not
know as unable to take images; to one it knows cannot, a placeholder says what was there. A text
document goes as named text to every judge.
"""

from __future__ import annotations

from evaluations.generation.conversation_requests import prompt_messages_out
from evaluations.models import JUDGE_SYSTEM_PROMPT, Judge, Output, Prompt, Study
from evaluations.providers.capabilities import model_accepts_images

# MT-Bench's multi-turn pairwise instructions. Its "focus on who provides a better answer to the
# second user question" becomes the whole conversation: a verdict here stands beside the raters'
# votes on the whole conversation, not on one turn.
JUDGE_MULTI_TURN_SYSTEM_PROMPT = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two "
    "AI assistants to the user questions. You should choose the assistant that follows the "
    "user's instructions and answers the user's questions better. Your evaluation should "
    "consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level "
    "of detail of their responses. Judge each assistant's whole conversation: every one of its "
    "answers, and how each answer builds on the conversation before it. Begin your evaluation by "
    "comparing the responses of the two assistants and provide a short explanation. Avoid any "
    "position biases and ensure that the order in which the responses were presented does not "
    "influence your decision. Do not allow the length of the responses to influence your "
    "evaluation. Do not favor certain names of the assistants. Be as objective as possible. "
    "After providing your explanation, output your final verdict by strictly following this "
    'format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" '
    "for a tie."
)
SHARED_START = "<|The Start of the Conversation Both Assistants Were Given|>"
SHARED_END = "<|The End of the Conversation Both Assistants Were Given|>"
ROLE_HEADINGS = {"system": "### System:", "user": "### User:", "assistant": "### Assistant:"}


def judge_takes_media(judge: Judge) -> bool:
    """Whether the judge is sent images and PDFs: unless LiteLLM knows it cannot take images."""
    return model_accepts_images(judge.model) is not False


class _Content:
    """A user message's content being written: text runs merged, media parts kept in place."""

    def __init__(self) -> None:
        self.parts: list[dict] = []

    def text(self, text: str) -> None:
        if self.parts and self.parts[-1]["type"] == "text":
            self.parts[-1]["text"] += text
        else:
            self.parts.append({"type": "text", "text": text})

    def media(self, part: dict, *, allowed: bool) -> None:
        if allowed:
            self.parts.append(part)
            self.text("\n\n")
        elif part["type"] == "image_url":
            self.text("[An image the user attached; it cannot be shown to you.]\n\n")
        else:
            name = part["file"].get("filename", "document")
            self.text(f"[A document the user attached, {name}; it cannot be shown to you.]\n\n")

    def result(self) -> str | list[dict]:
        if all(p["type"] == "text" for p in self.parts):
            return "".join(p["text"] for p in self.parts)
        return self.parts


def _message_write(out: _Content, heading: str, parts: list[dict], *, media: bool) -> None:
    out.text(f"{heading}\n")
    for part in parts:
        if part["type"] == "text":
            out.text(f"{part['text']}\n\n")
        else:
            out.media(part, allowed=media)


def _turn_text(output: Output, index: int) -> str:
    return output.turns[index]["text"] if index < len(output.turns) else ""


def _conversation_write(
    out: _Content, letter: str, prompt: Prompt, output: Output, *, media: bool
) -> None:
    out.text(f"<|The Start of Assistant {letter}'s Conversation with User|>\n\n")
    if prompt.turns:
        for index, turn in enumerate(prompt.turns):
            out.text(f"### User:\n{turn}\n\n### Assistant {letter}:\n")
            out.text(f"{_turn_text(output, index)}\n\n")
    else:
        out.text(f"### Assistant {letter}:\n{output.text}\n\n")
    out.text(f"<|The End of Assistant {letter}'s Conversation with User|>")


def judge_conversation_messages(
    *, study: Study, judge: Judge, prompt: Prompt, first: Output, second: Output
) -> list[dict]:
    """The judge's messages for a conversation pair in one order (``first`` is Assistant A).

    The study's own judge instructions are used when the researcher changed them; its message
    template is for single answers and does not apply.
    """
    custom = study.judge_system_prompt.strip()
    system = custom if custom and custom != JUDGE_SYSTEM_PROMPT else JUDGE_MULTI_TURN_SYSTEM_PROMPT
    shared = prompt_messages_out(prompt)
    media = any(p["type"] != "text" for m in shared for p in m["content"]) and judge_takes_media(
        judge
    )
    out = _Content()
    if shared:
        out.text(f"{SHARED_START}\n\n")
        for message in shared:
            _message_write(out, ROLE_HEADINGS[message["role"]], message["content"], media=media)
        out.text(f"{SHARED_END}\n\n\n")
    _conversation_write(out, "A", prompt, first, media=media)
    out.text("\n\n\n")
    _conversation_write(out, "B", prompt, second, media=media)
    return [{"role": "system", "content": system}, {"role": "user", "content": out.result()}]
