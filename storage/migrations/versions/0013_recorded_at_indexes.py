"""indexes on when check-ins and completions were recorded, read at every start

Revision ID: 0013_recorded_at_indexes
Revises: 0012_pending_choices
"""

from alembic import op

revision = "0013_recorded_at_indexes"
down_revision = "0012_pending_choices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_attendance_recorded_at", "attendance", ["recorded_at"])
    op.create_index("ix_studyrecord_recorded_at", "studyrecord", ["recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_studyrecord_recorded_at", table_name="studyrecord")
    op.drop_index("ix_attendance_recorded_at", table_name="attendance")
