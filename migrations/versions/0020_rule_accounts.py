"""rule accounts: a rule applies to every ad account or to those it lists: applies
sql/migrations/020_rule_accounts.sql.

Revision ID: 0020
Revises: 0019
"""

from app.db.migrations import apply_sql_file

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("020_rule_accounts.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
