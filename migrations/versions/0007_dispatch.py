"""post dispatcher: claims, accepted ids, results, cancellation: applies sql/migrations/007_dispatch.sql.

Revision ID: 0007
Revises: 0006
"""

from app.db.migrations import apply_sql_file

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("007_dispatch.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
