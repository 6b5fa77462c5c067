// The label deck, browser side (app/web/deck.py): the galaxy in front of the labeler and the
// next ones the server has already drawn. A key (or a click on a button) records which galaxy
// it was pressed on and shows the next galaxy at once; the keys not yet applied go to the
// server's label route (app/web/label_api.py) one batch at a time, numbered per page load, and
// its answer (how far it got, the galaxies held now) replaces the deck. A key pressed while no
// galaxy is on screen is refused with a message, never kept for later.

const UNDO = "z";
const SHOWN_DELAY_MS = 250; // quiet time before the page below is told which galaxy is shown
const RETRY_MS = 1000;
const MORE_MS = 150; // when the server was still drawing cards, ask again after this

export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const deck = (window.galactiveDeck ||= {
    page: Math.random().toString(36).slice(2, 14),
    seq: 0,
    pending: [],
    note: null,
    sending: false,
    data: null,
  });
  // a Streamlit run or a label-route answer, whichever the server made last
  if (!deck.data || data.at >= deck.data.at || data.request.task !== deck.data.request.task) {
    const notices = deck.data ? deck.data.notices : [];
    deck.data = { ...data, notices: data.notices.length ? data.notices : notices };
  }
  deck.data.request = data.request;
  deck.setState = setStateValue;
  deck.root = parentElement;
  const listener = (event) => onKey(deck, event);
  if (deck.listener) document.removeEventListener("keydown", deck.listener);
  deck.listener = listener;
  document.addEventListener("keydown", listener);
  draw(deck);
  send(deck);
  return () => {
    if (deck.listener === listener) {
      document.removeEventListener("keydown", listener);
      deck.listener = null;
    }
  };
}

function onKey(deck, event) {
  if (event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.composedPath ? event.composedPath()[0] : event.target;
  const typing =
    target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  const key = (event.key || "").toLowerCase();
  if (typing || !deck.data.keys.includes(key)) return;
  event.preventDefault();
  act(deck, key);
}

// The first held galaxy that no key waiting for the server was pressed on; none while an
// undo is on its way (the server decides which galaxy comes back).
function visible(deck) {
  if (deck.pending.some((event) => event.key === UNDO)) return null;
  const used = new Set(deck.pending.map((event) => event.lease));
  return deck.data.cards.find((card) => !used.has(card.lease)) || null;
}

function act(deck, key) {
  const card = visible(deck);
  if (key !== UNDO && !card) {
    deck.note = ["warning", `Key ${key} not counted: no galaxy on screen yet.`];
    draw(deck);
    return;
  }
  const box = deck.root.querySelector(".gx-comment");
  deck.pending.push({
    page: deck.page,
    seq: ++deck.seq,
    key,
    lease: key === UNDO ? null : card.lease,
    comment: key === UNDO || !box ? "" : box.value,
  });
  deck.note = null;
  draw(deck);
  send(deck);
}

// One batch at a time: every key not yet applied, then again while keys are left (or, with
// ``more``, to fetch the cards the server was still drawing).
async function send(deck, more = false) {
  if (deck.sending || (!deck.pending.length && !more)) return;
  deck.sending = true;
  const request = deck.data.request;
  let retry = false;
  try {
    const response = await fetch(request.api, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({
        page: deck.page, task: request.task, overlap: request.overlap, look: request.look,
        events: deck.pending,
      }),
    });
    const body = await response.json();
    if (response.ok) {
      const applied = body.applied[deck.page] || 0;
      deck.pending = deck.pending.filter((event) => event.seq > applied);
      if (body.at >= deck.data.at) Object.assign(deck.data, body);
    } else {
      deck.note = ["warning", `Keys not saved: ${body.error} (HTTP ${response.status}).`];
      retry = response.status >= 500;
      if (!retry) deck.pending = [];
    }
  } catch (error) {
    deck.note = ["warning", "Connection lost; your keys are kept and sent again."];
    retry = true;
  }
  deck.sending = false;
  draw(deck);
  if (retry) setTimeout(() => send(deck), RETRY_MS);
  else if (deck.pending.length) send(deck);
  else if (deck.data.more) setTimeout(() => send(deck, true), MORE_MS);
}

// Tell the page which galaxy is shown once the keys have settled, so the spectrum below
// follows the deck (a Streamlit rerun; the deck itself never waits for it).
function settle(deck, card) {
  clearTimeout(deck.settling);
  if (!card || deck.pending.length) return;
  deck.settling = setTimeout(() => {
    if (!deck.pending.length && deck.told !== card.lease && deck.data.detailed !== card.lease) {
      deck.told = card.lease;
      deck.setState("shown", card.lease);
    }
  }, SHOWN_DELAY_MS);
}

function element(tag, className, parent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}

// The deck's frame is built once and then filled in, so the layout never collapses between
// galaxies and an image is replaced only by the next one.
function frame(deck) {
  let root = deck.root.querySelector(".gx-deck");
  if (root) return root;
  root = element("div", "gx-deck", deck.root);
  root.dataset.testid = "galactive-deck";
  element("h3", "gx-heading", root);
  element("div", "gx-caption", root);
  const body = element("div", "gx-body", root);
  const left = element("div", "gx-left", body);
  const picture = element("div", "gx-picture", left);
  element("img", "gx-image", picture).alt = "colour composite";
  element("div", "gx-wait", picture);
  element("div", "gx-image-caption", left);
  element("div", "gx-bands", left);
  const right = element("div", "gx-right", body);
  element("div", "gx-model", right);
  element("div", "gx-bars", right);
  element("div", "gx-model-caption", right);
  element("div", "gx-why", right);
  const label = element("label", "gx-comment-label", right);
  label.textContent = "Comment (optional)";
  const input = element("input", "gx-comment", label);
  input.type = "text";
  input.placeholder = "saved with your label; Tab out, then press a key";
  element("div", "gx-classes", right);
  element("div", "gx-actions", right);
  const spectrum = element("div", "gx-spectrum", root);
  element("div", "gx-spectrum-plot", spectrum);
  element("div", "gx-spectrum-caption", spectrum);
  element("div", "gx-notes", root);
  return root;
}

function buttons(deck, parent, specs) {
  parent.replaceChildren();
  for (const spec of specs) {
    const button = element("button", `gx-button gx-${spec.kind}`, parent);
    button.type = "button";
    button.textContent = spec.text;
    if (spec.help) button.title = spec.help;
    button.addEventListener("click", () => act(deck, spec.key));
  }
}

function draw(deck) {
  const root = frame(deck);
  const data = deck.data;
  const card = visible(deck);
  if (root.dataset.buttons !== JSON.stringify(data.buttons)) {
    buttons(deck, root.querySelector(".gx-classes"), data.buttons.filter((b) => b.kind === "class"));
    buttons(deck, root.querySelector(".gx-actions"), data.buttons.filter((b) => b.kind !== "class"));
    root.dataset.buttons = JSON.stringify(data.buttons);
  }
  const undoing = deck.pending.some((event) => event.key === UNDO);
  root.dataset.state = card ? "ready" : undoing ? "undoing" : data.empty ? "empty" : "waiting";
  const wait = root.querySelector(".gx-wait");
  wait.textContent = card ? "" : undoing ? "Undoing…" : data.empty || "Fetching the next galaxy…";
  for (const button of root.querySelectorAll(".gx-class, .gx-unsure, .gx-skip, .gx-next")) {
    button.disabled = !card;
  }
  if (card && root.dataset.lease !== String(card.lease)) show(root, card);
  settle(deck, card);
  if (!card && data.empty) {
    root.dataset.lease = "";
    root.querySelector(".gx-heading").textContent = "";
  }
  // preload what comes next: a data URL decodes once, before its galaxy is shown
  for (const next of data.cards) {
    if (!deck.loaded?.has(next.image)) {
      (deck.loaded ||= new Set()).add(next.image);
      new Image().src = next.image;
    }
  }
  notes(deck, root.querySelector(".gx-notes"));
}

function show(root, card) {
  root.dataset.lease = String(card.lease);
  root.querySelector(".gx-heading").textContent = card.heading;
  root.querySelector(".gx-caption").textContent = card.caption;
  root.querySelector(".gx-image").src = card.image;
  root.querySelector(".gx-image-caption").textContent = card.image_caption;
  const bands = root.querySelector(".gx-bands");
  bands.replaceChildren();
  for (const band of card.bands) {
    const figure = element("figure", "gx-band", bands);
    element("img", null, figure).src = band.image;
    element("figcaption", null, figure).textContent = band.name;
  }
  root.querySelector(".gx-model").textContent = card.model ? "Model posterior" : "";
  const bars = root.querySelector(".gx-bars");
  bars.replaceChildren();
  for (const bar of card.bars) {
    const row = element("div", "gx-bar", bars);
    element("span", "gx-name", row).textContent = bar.name;
    const track = element("span", "gx-track", row);
    element("span", "gx-fill", track).style.width = `${100 * bar.mean}%`;
    const range = element("span", "gx-range", track);
    range.style.left = `${100 * bar.low}%`;
    range.style.width = `${100 * (bar.high - bar.low)}%`;
    const pct = (p) => `${Math.round(100 * p)}%`;
    element("span", "gx-p", row).textContent =
      `${pct(bar.mean)} (${pct(bar.low)}–${pct(bar.high)})`;
  }
  root.querySelector(".gx-model-caption").textContent = card.model;
  root.querySelector(".gx-why").textContent = card.why;
  root.querySelector(".gx-comment").value = "";
  sketch(root.querySelector(".gx-spectrum-plot"), card.spectrum);
  root.querySelector(".gx-spectrum-caption").textContent = card.spectrum
    ? `${card.redshift} ${card.spectrum.axis}.`
    : card.redshift;
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  parent.appendChild(node);
  return node;
}

// The spectrum (app/web/spectrum.py::sketch): its polyline, the lines dashed, their names.
function sketch(box, spectrum) {
  box.replaceChildren();
  if (!spectrum) return;
  const { width, height, top } = spectrum;
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "gx-spectrum-svg" }, box);
  plot.setAttribute("role", "img");
  plot.setAttribute("aria-label", "spectrum");
  for (const mark of spectrum.marks) {
    svg("line", { x1: mark.x, x2: mark.x, y1: top, y2: height, stroke: mark.colour,
                  "stroke-dasharray": "4 3", "stroke-width": 1 }, plot);
  }
  svg("polyline", { points: spectrum.points, fill: "none", stroke: "currentColor",
                    "stroke-width": 1 }, plot);
  for (const name of spectrum.names) {
    svg("text", { x: name.x, y: name.y, "text-anchor": "middle", class: "gx-line-name" }, plot)
      .textContent = name.text;
  }
}

function notes(deck, box) {
  const shown = [...(deck.data.notices || []), ...(deck.note ? [deck.note] : [])];
  box.replaceChildren();
  for (const [level, text] of shown) element("div", `gx-note gx-${level}`, box).textContent = text;
}
