"""counters behind GET /stats: applies sql/migrations/005_stats.sql.

Revision ID: 0005
Revises: 0004
"""

from app.db.migrations import apply_sql_file

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("005_stats.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
