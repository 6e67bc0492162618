"""attendance: the command message behind an activity or study task, unique per chat

Revision ID: 0002_attendance_sources
Revises: 0002_attendance
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_attendance_sources"
down_revision = "0002_attendance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("activity", "studytask"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("source_message_id", sa.BigInteger(), nullable=True))
            batch_op.create_unique_constraint(
                f"uq_{table}_chat_id_source_message_id", ["chat_id", "source_message_id"]
            )


def downgrade() -> None:
    for table in ("activity", "studytask"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_chat_id_source_message_id", type_="unique")
            batch_op.drop_column("source_message_id")
