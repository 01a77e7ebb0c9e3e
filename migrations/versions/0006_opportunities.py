"""optimization-opportunity detectors and lifecycle: applies sql/migrations/006_opportunities.sql.

Revision ID: 0006
Revises: 0005
"""

from app.db.migrations import apply_sql_file

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("006_opportunities.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
