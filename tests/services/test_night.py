"""Tonight at an observatory (app.services.followup.night), offline, against what the sky
must do: December nights are long in the north and short in the south, a target transiting
in the dark at the site's latitude is overhead, and one at the opposite pole never rises."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from astropy.coordinates import Longitude
from astropy.time import Time

from app.services.followup.night import SITES, night, visibility

DECEMBER = dt.date(2026, 12, 6)


def test_december_nights_are_long_in_the_north_and_short_in_the_south() -> None:
    north = night("Apache Point (SDSS)", DECEMBER)
    south = night("Cerro Paranal (4MOST, VISTA)", DECEMBER)
    assert 10.0 < north.hours < 12.0 and 6.5 < south.hours < 8.5  # astronomical darkness
    # Apache Point is 7 h behind UTC: dark from about 18:30 local, so after 00:30 UTC
    assert dt.datetime(2026, 12, 7, 0, 30, tzinfo=dt.UTC) < north.start < north.end
    assert north.end < dt.datetime(2026, 12, 7, 13, 0, tzinfo=dt.UTC)
    assert north.describe().startswith("Apache Point (SDSS), night of 2026-12-06: dark ")


def test_a_target_at_the_zenith_and_one_that_never_rises() -> None:
    tonight = night("Apache Point (SDSS)", DECEMBER)
    lat = SITES["Apache Point (SDSS)"][0]
    # the sidereal time at the middle of the night: a target there transits in the dark
    middle = tonight.start + (tonight.end - tonight.start) / 2
    lst = Time(middle).sidereal_time("mean", longitude=Longitude(SITES["Apache Point (SDSS)"][1],
                                                                unit="deg"))  # fmt: skip
    seen = visibility(np.array([lst.deg, 10.0]), np.array([lat, -80.0]), tonight)
    assert seen.best_airmass[0] == pytest.approx(1.0, abs=0.01)
    assert seen.hours_up[0] > 5.0  # above 30° for hours around its transit
    assert np.isnan(seen.best_airmass[1]) and seen.hours_up[1] == 0
    nowhere = visibility(np.array([np.nan]), np.array([np.nan]), tonight)  # no position
    assert np.isnan(nowhere.best_airmass[0]) and nowhere.hours_up[0] == 0
    empty = visibility(np.zeros(0), np.zeros(0), tonight)
    assert len(empty.best_airmass) == len(empty.hours_up) == 0


def test_an_unknown_site_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown site 'Nowhere'; known: Apache Point"):
        night("Nowhere", DECEMBER)
