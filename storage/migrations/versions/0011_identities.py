"""numbers for other platforms' chat and person ids (Telegram ids stay their own numbers)

Revision ID: 0011_identities
Revises: 0010_reminder_numbers
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011_identities"
down_revision = "0010_reminder_numbers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "external_id"),
    )


def downgrade() -> None:
    op.drop_table("identity")
