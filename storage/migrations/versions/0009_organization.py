"""registered branches and the scope of documents

Revision ID: 0009_organization
Revises: 0008_roster
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009_organization"
down_revision = "0008_roster"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat", schema=None) as batch_op:
        batch_op.add_column(sa.Column("branch_name", sqlmodel.sql.sqltypes.AutoString(length=255),
                                      nullable=True))
        batch_op.add_column(sa.Column("registered_at", sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column("registered_by", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chat_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("added_by", sa.BigInteger(), nullable=True))
        batch_op.drop_index("ix_document_name")
        batch_op.create_index("ix_document_name", ["name"], unique=False)
        batch_op.create_index("ix_document_chat_id", ["chat_id"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM document WHERE chat_id IS NOT NULL")  # names were unique before
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_index("ix_document_chat_id")
        batch_op.drop_index("ix_document_name")
        batch_op.create_index("ix_document_name", ["name"], unique=True)
        batch_op.drop_column("added_by")
        batch_op.drop_column("chat_id")
    with op.batch_alter_table("chat", schema=None) as batch_op:
        batch_op.drop_column("registered_by")
        batch_op.drop_column("registered_at")
        batch_op.drop_column("branch_name")
