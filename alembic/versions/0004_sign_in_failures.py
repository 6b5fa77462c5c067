"""sign-in failures, for throttling per user and per client

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 07:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("name_key", sa.String(length=64), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index(
        op.f("ix_sign_in_failures_name_key"), "sign_in_failures", ["name_key"], unique=False
    )
    op.create_index(
        op.f("ix_sign_in_failures_client_key"), "sign_in_failures", ["client_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_in_failures_client_key"), table_name="sign_in_failures")
    op.drop_index(op.f("ix_sign_in_failures_name_key"), table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
