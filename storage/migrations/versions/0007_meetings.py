"""meetings that count: 主持人/记录人 as members, 补录 with its reason, 议题/决议/纪要 and files

Revision ID: 0007_meetings
Revises: 0006_inbound_updates
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007_meetings"
down_revision = "0006_inbound_updates"
branch_labels = None
depends_on = None

TEXTS = ("topics", "decisions", "minutes")


def upgrade() -> None:
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("recorder_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column(
            "backfill_reason", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False,
            server_default=""))
        for name in TEXTS:
            batch_op.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "meetingfile",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("file_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("file_unique_id", sqlmodel.sql.sqltypes.AutoString(length=128),
                  nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("added_by", sa.BigInteger(), nullable=False),
        sa.Column("added_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("activity_id", "file_unique_id"),
    )
    with op.batch_alter_table("meetingfile", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meetingfile_activity_id"), ["activity_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("meetingfile", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetingfile_activity_id"))
    op.drop_table("meetingfile")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        for name in reversed(TEXTS):
            batch_op.drop_column(name)
        batch_op.drop_column("backfill_reason")
        batch_op.drop_column("recorder_id")
        batch_op.drop_column("host_id")
