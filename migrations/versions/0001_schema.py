"""the data model: applies sql/migrations/001_schema.sql.

Revision ID: 0001
Revises: None
"""

from app.db.migrations import apply_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("001_schema.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
