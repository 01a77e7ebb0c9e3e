"""role, claims helpers and row-level security: applies sql/migrations/002_access.sql.

Revision ID: 0002
Revises: 0001
"""

from app.db.migrations import apply_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("002_access.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
