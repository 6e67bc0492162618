"""a branch's 名册: names, 党小组, 职务, phone, and the chat account each is linked to

Revision ID: 0008_roster
Revises: 0007_meetings
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008_roster"
down_revision = "0007_meetings"
branch_labels = None
depends_on = None

LINKED = "user_id IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "rosterentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("party_group", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("position", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("linked_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("removed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rosterentry", schema=None) as batch_op:
        batch_op.create_index("ix_rosterentry_chat", ["chat_id", "ordinal"], unique=False)
        batch_op.create_index("uq_rosterentry_account", ["chat_id", "user_id"], unique=True,
                              sqlite_where=sa.text(LINKED), postgresql_where=sa.text(LINKED))


def downgrade() -> None:
    with op.batch_alter_table("rosterentry", schema=None) as batch_op:
        batch_op.drop_index("uq_rosterentry_account")
        batch_op.drop_index("ix_rosterentry_chat")
    op.drop_table("rosterentry")
