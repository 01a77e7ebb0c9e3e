"""account keys: account_id on every row of a campaign, keys to (account_id, campaign_id): applies
sql/migrations/023_account_keys.sql.

Revision ID: 0023
Revises: 0022
"""

from app.db.migrations import apply_sql_file

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("023_account_keys.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
