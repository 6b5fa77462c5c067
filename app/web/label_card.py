"""One held galaxy as the label deck draws it: identity, colour composite with scale bar and
arrows, band cutouts, the active model's posterior and why the galaxy was queued. Built once
per (galaxy, lease, model version, look) and kept, so a rerun after a key builds only the
galaxy that joined the deck; ``cached`` says whether one is built without building it."""

from __future__ import annotations

import base64
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import Engine

from app.config import Settings
from app.services.data.galaxy_view import GalaxyView, load_galaxy
from app.services.loop.retrain import active_version
from app.services.loop.scoring import percentile_of
from app.web import images, label_flow, resources
from app.web.label_flow import Shown
from app.web.posterior import GalaxyPosterior, summarize
from app.web.spectrum import sketch
from storage.db import session_scope

IMAGE_PIXELS = 384
BAND_PIXELS = 72
CACHED = 256  # cards kept per server
JPEG_QUALITY = 92
ZOOMS = (1, 1.5, 2, 3, 4)
CONTRASTS = (0.25, 0.5, 1, 2, 4)


@dataclass(frozen=True)
class Bar:
    """One class of the posterior: its name and mean probability with the 16–84% range."""

    name: str
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Band:
    """One band's cutout as a data URL, and the band's name."""

    name: str
    image: str


@dataclass(frozen=True)
class Card:
    """What the browser shows of one held galaxy (plain text; it is never read as HTML)."""

    lease: int
    heading: str
    caption: str
    image: str
    image_caption: str
    bands: tuple[Band, ...]
    bars: tuple[Bar, ...]
    model: str
    why: str
    spectrum: dict[str, Any] | None  # spectrum.sketch, or None without a spectrum
    redshift: str  # where the spectrum's lines are marked, and why


def data_url(picture: np.ndarray) -> str:
    """An (H, W[, 3]) uint8 picture as a JPEG data URL (a few tens of kB for 384²)."""
    buffer = io.BytesIO()
    Image.fromarray(picture).convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True)
class Look:
    """How the labeler asked to see cutouts: zoom factor, stretch and contrast."""

    zoom: float = 1
    stretch: str = "asinh"
    contrast: float = 1


def checked_look(zoom: Any, stretch: Any, contrast: Any) -> Look:
    """The look asked for, each part one the page offers; ValueError naming the part."""
    if zoom not in ZOOMS:
        raise ValueError(f"zoom must be one of {ZOOMS}, got {zoom!r}")
    if stretch not in images.STRETCHES:
        raise ValueError(f"stretch must be one of {images.STRETCHES}, got {stretch!r}")
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {CONTRASTS}, got {contrast!r}")
    return Look(zoom=zoom, stretch=stretch, contrast=contrast)


def active_of(db: Engine, survey: str) -> tuple[int, str, str] | None:
    """The survey's active version as (id, name, checkpoint), if any."""
    with session_scope(db) as s:
        version = active_version(s, survey)
        return (version.id, version.name, version.checkpoint) if version is not None else None


@dataclass(frozen=True)
class Drawn:
    """A held galaxy's card and what the page shows below the deck for the first one."""

    card: Card
    galaxy: GalaxyView
    posterior: GalaxyPosterior | None


_CACHE: OrderedDict[tuple, Drawn] = OrderedDict()
_LOCK = threading.Lock()


def cached(
    settings: Settings, shown: Shown, look: Look, active: tuple[int, str, str] | None
) -> Drawn | None:
    """The card of ``shown`` if it was built already (no work at all otherwise)."""
    with _LOCK:
        found = _CACHE.get(_key(settings, shown, look, active))
        if found is not None:
            _CACHE.move_to_end(_key(settings, shown, look, active))
        return found


def drawn(
    settings: Settings, db: Engine, shown: Shown, look: Look, active: tuple[int, str, str] | None
) -> Drawn:
    """The card of ``shown`` under the ``active`` version (id, name, checkpoint), if any:
    built once, then kept for every session of this server (the newest CACHED)."""
    found = cached(settings, shown, look, active)
    if found is not None:
        return found
    made = _build(settings, db, shown, settings.db_url, look, active)
    with _LOCK:
        _CACHE[_key(settings, shown, look, active)] = made
        while len(_CACHE) > CACHED:
            _CACHE.popitem(last=False)
    return made


def _key(
    settings: Settings, shown: Shown, look: Look, active: tuple[int, str, str] | None
) -> tuple:
    a = shown.assignment
    return (settings.db_url, a.galaxy_id, a.lease_id, a.expires_at, look, active)


def _build(
    settings: Settings,
    db: Engine,
    shown: Shown,
    db_url: str,
    look: Look,
    active: tuple[int, str, str] | None,
) -> Drawn:
    a, task = shown.assignment, shown.task
    with session_scope(db) as s:
        refs = resources.refs(s, db_url, task.survey)
        galaxy = load_galaxy(s, settings.store(), refs, a.galaxy_id)
        pool = (
            resources.pool_scores(s, db_url, a.model_version_id, task.id)
            if a.model_version_id is not None and a.acquisition_score is not None
            else np.zeros(0)
        )
    post = (
        resources.posterior(settings, refs, active[0], active[2], a.galaxy_id)
        if active is not None and active[2]
        else None
    )
    probs = post.probs.get(task.name) if post is not None else None
    with session_scope(db) as s:
        why = label_flow.reason(
            s,
            a,
            percentile=percentile_of(a.acquisition_score, pool) if len(pool) else None,
            probs=probs,
            active=active[1] if active is not None else None,
        )
    mag = f" · {galaxy.ref_band} = {galaxy.ref_mag:.2f}" if galaxy.ref_mag is not None else ""
    image, image_caption, bands = _pictures(galaxy, look)
    bars: tuple[Bar, ...] = ()
    model = ""
    if probs is not None:
        summary = summarize(probs, task.names)
        bars = tuple(
            Bar(name, float(m), float(lo), float(hi))
            for name, m, lo, hi in zip(
                task.names, summary.mean, summary.low, summary.high, strict=True
            )
        )
        top = summary.top
        model = (
            f"{active[1]}: mean and 16–84% range over {len(probs)} posterior samples; most "
            f"probable {summary.classes[top]} ({summary.mean[top]:.0%})."
        )
    elif active is not None:
        model = f"The active model has no posterior for {task.name}."
    card = Card(
        lease=a.lease_id,
        heading=f"{galaxy.source_id} · {task.name}",
        caption=f"RA {galaxy.ra:.5f}°, Dec {galaxy.dec:+.5f}°{mag} · yours until "
        f"{a.expires_at:%H:%M} UTC",
        image=image,
        image_caption=image_caption,
        bands=bands,
        bars=bars,
        model=model,
        why=why,
        spectrum=_spectrum(galaxy, post),
        redshift=(
            label_flow.redshift_caption(galaxy.spec_z, post.redshift if post else None, post)
            if galaxy.wavelength is not None
            else "No spectrum for this galaxy."
        ),
    )
    return Drawn(card, galaxy, post)


def _spectrum(galaxy: GalaxyView, post: GalaxyPosterior | None) -> dict[str, Any] | None:
    """The spectrum's sketch, lines at the measured redshift, else at the model's."""
    if galaxy.wavelength is None:
        return None
    model_z = post.redshift if post is not None else None
    return sketch(
        galaxy.wavelength, galaxy.flux, galaxy.ivar,
        z=galaxy.spec_z if galaxy.spec_z is not None else model_z,
        flux_unit=galaxy.flux_unit or "arbitrary",
    )  # fmt: skip


def _pictures(galaxy: GalaxyView, look: Look) -> tuple[str, str, tuple[Band, ...]]:
    """The colour composite (data URL) with its caption, and each band's cutout."""
    blank = np.zeros((IMAGE_PIXELS, IMAGE_PIXELS), np.uint8)
    if galaxy.image is None:
        return data_url(blank), "No image for this galaxy.", ()
    style = {"stretch": look.stretch, "contrast": look.contrast}
    composite, caption = images.colour_view(galaxy.image, galaxy.bands, **style)
    where = {"pixel_scale": galaxy.pixel_scale, "orientation": galaxy.orientation}
    picture, notes = images.for_eye(composite, factor=look.zoom, size=IMAGE_PIXELS, **where)
    flip = images.north_up(composite, galaxy.orientation)
    bands = tuple(
        Band(name, data_url(images.zoom(images.band_view(b, **style)[:: -1 if flip else 1],
                                        look.zoom, size=BAND_PIXELS)))
        for name, b in zip(galaxy.bands, galaxy.image, strict=True)
    )  # fmt: skip
    return data_url(picture), f"{caption}; {notes}", bands
