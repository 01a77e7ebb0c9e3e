"""backtests: the rules replayed over the metrics history, queued and run in the background:
applies sql/migrations/012_backtests.sql.

Revision ID: 0012
Revises: 0011
"""

from app.db.migrations import apply_sql_file

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("012_backtests.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
