"""account scope: per-account settings overrides and scoped tokens: applies
sql/migrations/021_account_scope.sql.

Revision ID: 0021
Revises: 0020
"""

from app.db.migrations import apply_sql_file

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("021_account_scope.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
