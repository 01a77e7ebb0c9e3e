"""a cycle's cost flat whatever the portfolio and the history (an index on period_end, HOT campaign
updates, the guardrails' and impact lookups indexed): applies sql/migrations/010_cycle_at_scale.sql.

Revision ID: 0010
Revises: 0009
"""

from app.db.migrations import apply_sql_file

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("010_cycle_at_scale.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
