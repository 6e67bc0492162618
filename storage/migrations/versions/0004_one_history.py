"""Join the attendance and reminder branches into one history.

Revision ID: 0004_one_history
Revises: 0002_attendance_sources, 0003_reminders
"""

revision = "0004_one_history"
down_revision = ("0002_attendance_sources", "0003_reminders")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: databases that ran both branches are stamped with this one head."""


def downgrade() -> None:
    """Nothing to undo."""
