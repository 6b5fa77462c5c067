"""What a reader sees of the markdown a page sends: names arrive backslash-escaped
(:func:`app.web.text.plain`), and the escapes are not shown."""

from __future__ import annotations

import re


def shown(markdown: str) -> str:
    """``markdown`` with its backslash escapes removed, as the browser displays it."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown))
