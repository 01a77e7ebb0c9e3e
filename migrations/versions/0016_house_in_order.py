"""house in order: event types, channels and lock keys from one place, held back as one word family,
social posts apart from webhook deliveries, bounded settings, cancellable backtests: applies
sql/migrations/016_house_in_order.sql.

Revision ID: 0016
Revises: 0015
"""

from app.db.migrations import apply_sql_file

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("016_house_in_order.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
