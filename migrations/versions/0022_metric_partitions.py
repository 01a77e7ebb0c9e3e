"""metric partitions: campaign_metrics by month, hourly retention: applies
sql/migrations/022_metric_partitions.sql.

Revision ID: 0022
Revises: 0021
"""

from app.db.migrations import apply_sql_file

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("022_metric_partitions.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
