"""webhook updates stored before they are acknowledged

Revision ID: 0006_inbound_updates
Revises: 0005_membership_intervals
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006_inbound_updates"
down_revision = "0005_membership_intervals"
branch_labels = None
depends_on = None

PENDING = "status = 'pending'"


def upgrade() -> None:
    op.create_table(
        "inboundupdate",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("claimed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("update_id"),
    )
    with op.batch_alter_table("inboundupdate", schema=None) as batch_op:
        batch_op.create_index("ix_inboundupdate_pending", ["update_id"], unique=False,
                              sqlite_where=sa.text(PENDING), postgresql_where=sa.text(PENDING))


def downgrade() -> None:
    with op.batch_alter_table("inboundupdate", schema=None) as batch_op:
        batch_op.drop_index("ix_inboundupdate_pending")
    op.drop_table("inboundupdate")
