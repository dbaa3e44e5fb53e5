"""A prompt and one candidate's answers -> the conversation in the OpenAI message format, as the
Chatbot Arena dumps and MT-Bench's human judgments carry it (`conversation_a`/`conversation_b`).

Text-only content is a string. A message with images or documents keeps its parts, each image or
document named by its content hash (`sha256:...`) instead of embedding the file: exports stay
small, and the hash finds the file among the study's media.
"""

from typing import Any

from evaluations.models import Output, Prompt


def _media_ref(part: dict) -> dict:
    ref = f"sha256:{part['media']}"
    if part["type"] == "image":
        return {"type": "image_url", "image_url": {"url": ref}}
    return {"type": "file", "file": {"filename": part.get("filename", ""), "file_id": ref}}


def _message(message: dict) -> dict[str, Any]:
    parts = message["content"]
    if all(p["type"] == "text" for p in parts):
        return {"role": message["role"], "content": "\n\n".join(p["text"] for p in parts)}
    return {
        "role": message["role"],
        "content": [
            {"type": "text", "text": p["text"]} if p["type"] == "text" else _media_ref(p)
            for p in parts
        ],
    }


def prompt_history(prompt: Prompt) -> list[dict[str, Any]]:
    """The prompt's messages before any answer: a fixed history, a scripted conversation's
    system message, or a single-turn prompt's one user message (its context first, as the
    candidates were sent it)."""
    if prompt.turns or prompt.messages:
        return [_message(m) for m in prompt.messages]
    content = f"{prompt.context}\n\n{prompt.text}" if prompt.context.strip() else prompt.text
    return [{"role": "user", "content": content}]


def conversation(prompt: Prompt, output: Output, turn: int | None = None) -> list[dict[str, Any]]:
    """The conversation up to and including the candidate's answer to `turn` (1-based), or the
    whole conversation when None. Answers are the scrubbed texts raters saw."""
    messages = prompt_history(prompt)
    if prompt.turns:
        last = len(prompt.turns) if turn is None else min(turn, len(prompt.turns))
        answers = [t.get("text", "") for t in output.turns or []]
        for index, user in enumerate(prompt.turns[:last]):
            messages.append({"role": "user", "content": user})
            answer = answers[index] if index < len(answers) else ""
            messages.append({"role": "assistant", "content": answer})
        return messages
    messages.append({"role": "assistant", "content": output.text})
    return messages


def conversation_turns(messages: list[dict[str, Any]]) -> int:
    """Arena's `turn` of a whole conversation: how many user messages it has."""
    return sum(1 for m in messages if m["role"] == "user")
