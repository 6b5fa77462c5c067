"""Key -> next galaxy drawn on the label page, in headless Chromium (Debian's) on a demo home.

Serves the app on ``--home`` (e.g. the ``make demo`` home, ``galactive-data``), signs in,
waits until the deck holds its galaxies, then per run presses ``--keys`` class keys one every
``--interval`` seconds. For each key the page itself times (``performance.now``, a capture
listener on keydown, then every animation frame):

- **card**: until the deck shows the next galaxy with its image decoded (what the expert
  judges: heading, composite, bands, posterior, why, spectrum sketch);
- **page**: until the Streamlit part below the deck (the spectrum in detail, which follows
  after a Streamlit rerun) names the same galaxy: the cost of a rerun per key, the way the
  page worked before the deck, measured in the same run as a reference.

Each key writes a real label. Prints p50 / p95 / max per run and over all runs; ``--json``
keeps them.

    .venv/bin/python -m bench.label_keys_browser --home galactive-data --user demo \\
        --password galactive-demo --runs 3 --keys 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from app.config import resolve
from tests.web import browser

# Resolves with [ms to the next card drawn, ms to the page below synced] for the next key.
MEASURE = """() => {
  const deck = document.querySelector("[data-testid='galactive-deck']");
  const before = deck.querySelector("h3").innerText;
  window.__timing = new Promise((resolve) => {
    let t0 = null, card = null;
    const listen = () => { t0 = performance.now(); };
    document.addEventListener("keydown", listen, { capture: true, once: true });
    const frame = () => {
      if (t0 !== null) {
        const heading = deck.querySelector("h3").innerText;
        const image = deck.querySelector(".gx-image");
        if (card === null && heading !== before && image.complete && image.naturalWidth) {
          card = performance.now() - t0;
        }
        const source = heading.split(" ·")[0];
        const below = Array.from(document.querySelectorAll("summary, [data-testid='stExpander']"))
          .some((n) => n.innerText.includes(`Spectrum of ${source} in detail`));
        const stale = document.querySelector("[data-stale='true']");
        const noSpectrum = deck.querySelector(".gx-spectrum-plot").childElementCount === 0;
        if (card !== null && !stale && (below || noSpectrum)) {
          resolve([card, performance.now() - t0, noSpectrum]);
          return;
        }
        if (performance.now() - t0 > 10000) { resolve([card, null, noSpectrum]); return; }
      }
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
}"""


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95 and max of ``values`` (ms)."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered), "p95": p95, "max": ordered[-1], "n": len(ordered)}


def one_run(url: str, user: str, password: str, keys: int, interval: float) -> dict:
    """Sign in in a fresh browser and time ``keys`` class keys; the timings of this run."""
    from playwright.sync_api import sync_playwright

    cards, pages = [], []
    with sync_playwright() as p:
        chromium = browser.launch(p)
        page = chromium.new_page(viewport={"width": 1400, "height": 1500})
        browser.sign_in(page, url, user, password)
        held = "() => window.galactiveDeck.data.cards.length"
        browser.wait_until(lambda: page.evaluate(held) >= 8, what="the deck drawn")
        for k in range(keys):
            page.evaluate(MEASURE)
            page.keyboard.press(str(k % 6 + 1))
            card, synced, no_spectrum = page.evaluate("() => window.__timing")
            cards.append(card)
            if synced is not None and not no_spectrum:
                pages.append(synced)
            time.sleep(interval)
        chromium.close()
    return {"card_ms": cards, "page_ms": pages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", required=True, help="a home with a survey, a model, users")
    parser.add_argument("--user", default="demo")
    parser.add_argument("--password", default="galactive-demo")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keys", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.6, help="seconds between keys")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = resolve(None, args.home)
    runs = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        browser.served(settings, Path(tmp) / "serve.log") as url,
    ):
        for r in range(args.runs):
            run = one_run(url, args.user, args.password, args.keys, args.interval)
            runs.append(run)
            print(f"run {r + 1}: card {percentiles(run['card_ms'])}")
            print(f"        page {percentiles(run['page_ms'])}")
    everything = {
        "card_ms": percentiles([c for run in runs for c in run["card_ms"]]),
        "page_ms": percentiles([c for run in runs for c in run["page_ms"]]),
    }
    print("all runs:", json.dumps(everything, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"home": str(args.home),
                                                              "json": str(args.json)},
                                         "runs": runs, "all": everything}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
