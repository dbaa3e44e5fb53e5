from html.parser import HTMLParser

import pytest

from raters.rendering import ALLOWED_TAGS, markdown_render

ATTACKS = [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD4=)",
    "<!-- hidden comment --><b>bold</b>",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=https://evil.example></iframe>",
    "<svg onload=alert(1)>",
    "![tracker](https://evil.example/pixel.png)",
    '<div style="background:url(https://evil.example)">x</div>',
]


class ElementCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def elements_of(html: str) -> ElementCollector:
    collector = ElementCollector()
    collector.feed(html)
    return collector


@pytest.mark.parametrize("attack", ATTACKS)
def test_hostile_markdown_renders_inert(attack):
    parsed = elements_of(markdown_render(f"Intro\n\n{attack}\n\nOutro"))
    assert not parsed.comments
    for tag, attrs in parsed.elements:
        assert tag in ALLOWED_TAGS
        assert tag not in {"script", "img", "iframe", "svg", "style"}
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in {"src", "style", "srcset"}, (tag, name)
            if name == "href":
                assert (value or "").startswith(("https://", "http://", "mailto:")), value


def test_raw_html_is_shown_as_text_not_markup():
    html = markdown_render("<script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_event_handler_attributes_never_reach_an_element():
    html = markdown_render('<img src=x onerror="alert(1)"> and <b onclick=alert(1)>x</b>')
    assert "<img" not in html
    assert "<b" not in html
    assert "&lt;img" in html


def test_remote_images_become_their_alt_text():
    html = markdown_render("![a chart of sales](https://example.com/chart.png)")
    assert "[image: a chart of sales]" in html
    assert "example.com" not in html


def test_markdown_structure_survives_sanitising():
    text = (
        "# Title\n\n- one\n- two\n\n1. first\n\n| col | val |\n|-----|-----|\n| a | 1 |\n\n"
        "```python\nprint('hi')\n```\n\nSee [docs](https://example.org/docs) and `x = 1`."
    )
    html = markdown_render(text)
    assert "<h3>Title</h3>" in html  # shifted below the page's own headings
    assert "<ul>" in html and "<ol>" in html
    assert "<table>" in html and "<th>col</th>" in html
    assert "<pre><code>print('hi')" in html
    assert '<a href="https://example.org/docs" rel="noopener noreferrer nofollow">docs</a>' in html
    assert "<code>x = 1</code>" in html
