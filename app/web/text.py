"""Text that users and files supply, made safe for Streamlit's markdown."""

from __future__ import annotations

import string

_ESCAPED = set(string.punctuation)


def plain(text: object) -> str:
    """``text`` as typed: every ASCII punctuation character backslash-escaped (CommonMark lets
    any be) and line breaks made spaces, so a galaxy id, class, survey or user name cannot
    become a link, an image fetched from another server, emphasis, a heading or LaTeX."""
    flat = " ".join(str(text).splitlines())
    return "".join("\\" + c if c in _ESCAPED else c for c in flat)
