"""Surveys, the galaxies in them, and the ingests that brought each galaxy in."""

from __future__ import annotations

import re

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base

SURVEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_survey_name(name: str) -> str:
    """``name``, or ValueError: a survey's name becomes part of paths (model checkpoints under
    GALACTIVE_HOME) and of pages, so it is letters, digits, '.', '_' and '-', starting with
    a letter or digit, at most 128 characters (``../../x`` once put a checkpoint outside
    the home)."""
    if not isinstance(name, str) or not SURVEY_NAME.fullmatch(name):
        raise ValueError(
            f"survey name {name!r}: use letters, digits, '.', '_' and '-', starting with a "
            "letter or digit (at most 128)"
        )
    return name


class Survey(Base):
    """A named collection of galaxies (a real survey or a mock one)."""

    __tablename__ = "surveys"

    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    galaxies: Mapped[list[Galaxy]] = relationship(back_populates="survey")


class Ingest(Base):
    """One ingest transaction: what was read, by whom, and where its arrays live.

    ``array_file`` is the store file (relative to the array root) holding every array
    this ingest wrote; files are written once and never modified.
    """

    __tablename__ = "ingests"

    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    array_file: Mapped[str | None] = mapped_column(String(255))
    n_rows: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))


class Galaxy(Base):
    """A galaxy: its survey's id for it, position, and reference magnitude.

    ``ref_mag`` (AB, in ``ref_band``) is what exposure times and cuts use; all band
    magnitudes are in ``magnitudes``.
    """

    __tablename__ = "galaxies"
    __table_args__ = (
        UniqueConstraint("survey_id", "source_id"),
        Index("ix_galaxies_survey_ref_mag", "survey_id", "ref_mag"),
    )

    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    source_id: Mapped[str] = mapped_column(String(64))
    ra: Mapped[float] = mapped_column(Float)
    dec: Mapped[float] = mapped_column(Float)
    ref_mag: Mapped[float | None] = mapped_column(Float)
    ref_band: Mapped[str | None] = mapped_column(String(16))
    magnitudes: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    ingest_id: Mapped[int] = mapped_column(ForeignKey("ingests.id"), index=True)

    survey: Mapped[Survey] = relationship(back_populates="galaxies")
