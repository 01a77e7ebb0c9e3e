"""blast radius: the data-outage breaker, the mass-pause and budget-growth limits, held cycles and
their release: applies sql/migrations/013_blast_radius.sql.

Revision ID: 0013
Revises: 0012
"""

from app.db.migrations import apply_sql_file

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("013_blast_radius.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
