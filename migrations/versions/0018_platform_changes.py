"""platform changes: decisions on connected campaigns proposed or applied on their platforms through an
outbox that reads before it writes: applies sql/migrations/018_platform_changes.sql.

Revision ID: 0018
Revises: 0017
"""

from app.db.migrations import apply_sql_file

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("018_platform_changes.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
