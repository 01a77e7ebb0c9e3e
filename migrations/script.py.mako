"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from app.db.migrations import apply_sql_file

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("NNN_name.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
