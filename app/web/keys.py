"""Keyboard shortcuts for the label page: a key presses the button whose text starts "[key]".

The page's buttons are keyed per lease, so a click that arrives after the next galaxy is
shown cannot land on it (the old button no longer exists, or it still carries the old
galaxy's lease and idempotency key). Streamlit's own ``shortcut=`` binding is lost when a
button is replaced by a new one with the same shortcut, so a small script (``st.html`` with
JavaScript, run in the app's own document) listens for keys instead; each run of it replaces
the listener before. It ignores keys typed into a text field, keys held down (auto-repeat
would label galaxy after galaxy) and keys with a modifier.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

CLASS_KEYS = "123456789"
UNSURE, SKIP, NEXT, UNDO = "u", "s", "n", "z"

_SCRIPT = """<script>
(() => {
  const keys = new Set(KEYS);
  if (window.galactiveKeys) document.removeEventListener("keydown", window.galactiveKeys);
  window.galactiveKeys = (event) => {
    if (event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target && (target.isContentEditable ||
      ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
    const key = (event.key || "").toLowerCase();
    if (typing || !keys.has(key)) return;
    const prefix = "[" + key + "]";
    // Visible buttons only: Streamlit keeps hidden copies (layout measurement) in the DOM.
    const button = Array.from(document.querySelectorAll("button"))
      .find((b) => b.offsetParent !== null && b.innerText.trim().startsWith(prefix));
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  };
  document.addEventListener("keydown", window.galactiveKeys);
})();
</script>"""


def labelled(key: str | None, text: str) -> str:
    """A button text that key ``key`` presses: "[key] text" (just ``text`` without a key)."""
    return f"[{key}] {text}" if key else text


def class_key(index: int) -> str | None:
    """The key of the class at ``index``: 1 to 9 for the first nine, none after."""
    return CLASS_KEYS[index] if index < len(CLASS_KEYS) else None


def script(keys: Sequence[str]) -> str:
    """The HTML of the listener for ``keys`` (single lower-case characters)."""
    bad = [k for k in keys if len(k) != 1 or k != k.lower()]
    if bad:
        raise ValueError(f"keys must be single lower-case characters, got {bad}")
    return _SCRIPT.replace("KEYS", json.dumps(sorted(set(keys))))
