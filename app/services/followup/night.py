"""Tonight at an observatory: when it is astronomically dark, and how high each target gets.

Astropy only, offline: the sites' coordinates are written here (``EarthLocation.of_site``
would download its registry), and Earth-orientation tables are never fetched; the bundled
ones, extrapolated, are good to far better than the arcminutes an airmass needs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_sun
from astropy.time import Time
from astropy.utils import iers

iers.conf.auto_download = False  # no network here, and none needed for an airmass
iers.conf.auto_max_age = None
iers.conf.iers_degraded_accuracy = "ignore"

# name: (latitude deg, longitude deg east, height m)
SITES = {
    "Apache Point (SDSS)": (32.7803, -105.8203, 2788.0),
    "Kitt Peak (DESI, Mayall)": (31.9634, -111.5999, 2120.0),
    "Cerro Paranal (4MOST, VISTA)": (-24.6157, -70.3976, 2635.0),
    "La Silla": (-29.2563, -70.7380, 2400.0),
    "Mauna Kea": (19.8261, -155.4747, 4160.0),
}
DARK_SUN_DEG = -18.0  # astronomical twilight
LOW_DEG = 30.0  # above this altitude (airmass below 2) a target counts as observable
SUN_STEP_MIN = 5
TARGET_STEPS = 48


@dataclass(frozen=True)
class Night:
    """The dark hours (Sun below DARK_SUN_DEG) of one night at one site, in UTC."""

    site: str
    date: dt.date  # the local evening it starts on
    start: dt.datetime
    end: dt.datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    def describe(self) -> str:
        """'Apache Point (SDSS), night of 2026-12-06: dark 01:25–12:20 UTC (10.9 h)'."""
        return (
            f"{self.site}, night of {self.date.isoformat()}: dark {self.start:%H:%M}–"
            f"{self.end:%H:%M} UTC ({self.hours:.1f} h)"
        )


@dataclass(frozen=True)
class Visibility:
    """Per target (n,): the lowest airmass during the night (NaN if it never rises) and the
    hours it spends above LOW_DEG."""

    best_airmass: np.ndarray
    hours_up: np.ndarray


def location(site: str) -> EarthLocation:
    """The site's EarthLocation; ValueError listing the known sites."""
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}; known: {', '.join(SITES)}")
    lat, lon, height = SITES[site]
    return EarthLocation(lat=lat * u.deg, lon=lon * u.deg, height=height * u.m)


def night(site: str, date: dt.date) -> Night:
    """The astronomically dark part of the night that starts on the local evening of
    ``date`` at ``site``; ValueError when the Sun never gets that low (polar summer)."""
    place = location(site)
    # local noon of ``date`` from the longitude, then 24 h in SUN_STEP_MIN steps
    noon = dt.datetime.combine(date, dt.time(12), tzinfo=dt.UTC) - dt.timedelta(
        hours=place.lon.deg / 15.0
    )
    times = Time(noon) + np.arange(0, 24 * 60, SUN_STEP_MIN) * u.min
    sun = get_sun(times).transform_to(AltAz(obstime=times, location=place))
    dark = np.flatnonzero(sun.alt.deg < DARK_SUN_DEG)
    if not len(dark):
        raise ValueError(f"the Sun stays above {DARK_SUN_DEG:g}° at {site} on {date}")
    start, end = times[dark[0]].to_datetime(dt.UTC), times[dark[-1]].to_datetime(dt.UTC)
    return Night(site, date, start, end)


def visibility(ra: np.ndarray, dec: np.ndarray, tonight: Night) -> Visibility:
    """How high targets at (``ra``, ``dec``) degrees (n,) get during ``tonight``; a target
    without a position never rises."""
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    best, hours_up = np.full(len(ra), np.nan), np.zeros(len(ra))
    placed = np.isfinite(ra) & np.isfinite(dec)
    if not placed.any():
        return Visibility(best, hours_up)
    hours = np.linspace(0.0, tonight.hours, TARGET_STEPS)
    times = Time(tonight.start) + hours * u.h
    frame = AltAz(obstime=times[None, :], location=location(tonight.site))
    sky = SkyCoord(ra=ra[placed] * u.deg, dec=dec[placed] * u.deg)
    altitude = sky[:, None].transform_to(frame).alt.deg
    highest = altitude.max(1)
    zenith = np.radians(90.0 - highest)
    best[placed] = np.where(highest > 0, 1.0 / np.cos(zenith), np.nan)
    step = tonight.hours / (TARGET_STEPS - 1)
    hours_up[placed] = (altitude > LOW_DEG).sum(1) * step
    return Visibility(best_airmass=best, hours_up=hours_up)
