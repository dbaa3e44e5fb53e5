"""Markdown from LLM answers to HTML that is safe to put in front of a rater.

Two layers, each enough on its own for scripts: markdown-it-py with raw HTML off (any tag in an
answer is shown as text) and its link validation, then nh3 (ammonia) with an allow-list of tags,
attributes and URL schemes. Images are never loaded: a remote image would tell a third party who
is rating and when, so it is shown as its alt text.
"""

from functools import lru_cache
from html import escape

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p",
    "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
}
ALLOWED_CLASSES = {"span": {"md-image"}}
URL_SCHEMES = {"http", "https", "mailto"}
# Answers sit under the page's h1 and the "Response A" h2: their headings start at h3.
HEADING_SHIFT = 2


def _render_image(renderer: object, tokens: list[Token], idx: int, options: dict, env: dict) -> str:
    alt = "".join(child.content for child in (tokens[idx].children or []))
    return f'<span class="md-image">[image: {escape(alt or "no description")}]</span>'


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _render_image)
    return md


def _shift_headings(tokens: list[Token]) -> None:
    for token in tokens:
        if token.type in {"heading_open", "heading_close"}:
            level = min(6, int(token.tag[1]) + HEADING_SHIFT)
            token.tag = f"h{level}"


# A prompt is shown with each of its pairs, to every rater: most renders repeat a recent one.
@lru_cache(maxsize=1024)
def markdown_render(text: str) -> str:
    """Render an answer's Markdown to sanitised HTML: no scripts, handlers, styles or images."""
    md = _markdown()
    tokens = md.parse(text or "")
    _shift_headings(tokens)
    html = md.renderer.render(tokens, md.options, {})
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
