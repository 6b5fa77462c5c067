"""content checksums on images and spectra, so re-ingesting one is idempotent

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("images", "spectra"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("checksum", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in ("images", "spectra"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("checksum")
