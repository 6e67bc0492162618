"""membership as stays: a row per join (joined, left, joined again) instead of one per member

Revision ID: 0005_membership_intervals
Revises: 0004_one_history
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005_membership_intervals"
down_revision = "0004_one_history"
branch_labels = None
depends_on = None

OPEN = sa.text("left_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "branchmembership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("joined_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("left_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("branchmembership", schema=None) as batch_op:
        batch_op.create_index("ix_branchmembership_chat_user", ["chat_id", "user_id"],
                              unique=False)
        batch_op.create_index("uq_branchmembership_open", ["chat_id", "user_id"], unique=True,
                              sqlite_where=OPEN, postgresql_where=OPEN)
        batch_op.create_index(batch_op.f("ix_branchmembership_user_id"), ["user_id"],
                              unique=False)
    # every old row is one stay, as it was recorded (a rejoin had kept the first join)
    op.execute(
        "INSERT INTO branchmembership (chat_id, user_id, joined_at, left_at) "
        "SELECT chat_id, user_id, joined_at, left_at FROM branchmember "
        "ORDER BY chat_id, user_id"
    )
    with op.batch_alter_table("branchmember", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_branchmember_user_id"))
    op.drop_table("branchmember")


def downgrade() -> None:
    op.create_table(
        "branchmember",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("joined_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("left_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("chat_id", "user_id"),
    )
    with op.batch_alter_table("branchmember", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_branchmember_user_id"), ["user_id"], unique=False)
    # the old shape holds one span per member: the first join, and the last leave unless a
    # stay is still open (the gaps between stays cannot be kept)
    op.execute(
        "INSERT INTO branchmember (chat_id, user_id, joined_at, left_at) "
        "SELECT chat_id, user_id, MIN(joined_at), "
        "CASE WHEN COUNT(*) = COUNT(left_at) THEN MAX(left_at) END "
        "FROM branchmembership GROUP BY chat_id, user_id"
    )
    with op.batch_alter_table("branchmembership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_branchmembership_user_id"))
        batch_op.drop_index("uq_branchmembership_open", sqlite_where=OPEN,
                            postgresql_where=OPEN)
        batch_op.drop_index("ix_branchmembership_chat_user")
    op.drop_table("branchmembership")
