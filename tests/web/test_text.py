"""User- and file-supplied text reaches Streamlit's markdown as text, never as markup."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from app.web.text import BREAK, plain

HOSTILE = [
    "![x](http://evil.example/pixel.png)",
    "[click](http://evil.example)",
    "<img src=http://evil.example/x.png>",
    "**bold** _it_ `code` # heading",
    "$\\frac{1}{0}$ ~~gone~~ | a | b |",
    "http://evil.example www.evil.example eve@evil.example",
    "two\nlines\r\nand\\ a backslash",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_plain_text_renders_as_itself(text: str) -> None:
    # CommonMark with GFM tables and strikethrough (markdown-it-py, as rich ships it); GFM's
    # bare-URL autolinks need "http:" / "www." spelled out, which the escapes break
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(plain(text))
    assert "<a " not in html and "<img" not in html and "<strong>" not in html
    assert "mailto" not in html
    assert "<em>" not in html and "<code>" not in html and "<h1>" not in html
    shown = re.sub(r"<[^>]+>", "", html).strip()
    # what a reader sees is the text itself (line breaks as spaces, HTML entities decoded)
    shown = shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert shown.replace(BREAK, "") == " ".join(text.splitlines())
    assert not re.search(r"https?\\?:\\?/|www\\?\.|@\w", plain(text))  # no autolink can start


def test_plain_leaves_letters_digits_and_spaces_alone() -> None:
    assert plain("NGC 1300 spiral 2") == "NGC 1300 spiral 2"
    assert plain("a-b.c") == "a\\-b\\.c"
