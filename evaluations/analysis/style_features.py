"""The answers' style features (length, Markdown headers, list items, bold spans) read from the
text: plain Python, so exports and vote readers use them without the statistics' scipy."""

from __future__ import annotations

import re

STYLE_FEATURES = ("length", "headers", "lists", "bold")
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s", re.MULTILINE)
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def text_style_features(text: str) -> dict[str, float]:
    """Length in characters and counts of Markdown headers, list items and bold spans."""
    return {
        "length": float(len(text)),
        "headers": float(len(_HEADER.findall(text))),
        "lists": float(len(_LIST.findall(text))),
        "bold": float(len(_BOLD.findall(text))),
    }
