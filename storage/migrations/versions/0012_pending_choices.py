"""a person's pending choice (a private upload's branch) kept for every replica

Revision ID: 0012_pending_choices
Revises: 0011_identities
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012_pending_choices"
down_revision = "0011_identities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_choice",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("held_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("pending_choice")
