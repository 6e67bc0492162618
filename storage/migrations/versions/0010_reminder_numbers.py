"""reminders numbered from 1 in each chat, as secretaries see them

Revision ID: 0010_reminder_numbers
Revises: 0009_organization
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_reminder_numbers"
down_revision = "0009_organization"
branch_labels = None
depends_on = None

NUMBER_EXISTING = """
UPDATE reminder SET number = (
    SELECT count(*) FROM reminder AS earlier
    WHERE earlier.chat_id = reminder.chat_id AND earlier.system_key IS NULL
      AND earlier.id <= reminder.id)
WHERE system_key IS NULL
"""


def upgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
    op.execute(NUMBER_EXISTING)
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_reminder_chat_id_number", ["chat_id", "number"])


def downgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reminder_chat_id_number", type_="unique")
        batch_op.drop_column("number")
