"""ad accounts: every campaign belongs to one (Meta, Google Ads, or manual), synced from its platform,
with the history of its syncs and the revisions of the days they re-read: applies
sql/migrations/017_ad_accounts.sql.

Revision ID: 0017
Revises: 0016
"""

from app.db.migrations import apply_sql_file

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("017_ad_accounts.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
