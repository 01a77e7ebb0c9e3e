"""decision engine: rule compiler, confidence, plan, pause, scale, post scheduling, cycle, rollback: applies sql/migrations/004_decisions.sql.

Revision ID: 0004
Revises: 0003
"""

from app.db.migrations import apply_sql_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("004_decisions.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
