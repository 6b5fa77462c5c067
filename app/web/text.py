"""Text that users and files supply, made safe for Streamlit's markdown."""

from __future__ import annotations

import re
import string

_ESCAPED = set(string.punctuation)
BREAK = "\u200b"  # zero-width space: shown as nothing, but no URL or address runs across it
# Streamlit's markdown links bare URLs and e-mail addresses (GFM autolinks) even when their
# punctuation is escaped: "http\:\/\/evil\.example" still became a link in Chromium.
_AUTOLINKS = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)")


def plain(text: object) -> str:
    """``text`` as typed: every ASCII punctuation character backslash-escaped (CommonMark lets
    any be), line breaks made spaces, and a zero-width space after "http:", "www" and "@", so
    a galaxy id, class, survey or user name cannot become a link, an image fetched from
    another server, emphasis, a heading or LaTeX."""
    flat = _AUTOLINKS.sub(BREAK, " ".join(str(text).splitlines()))
    return "".join("\\" + c if c in _ESCAPED else c for c in flat)
