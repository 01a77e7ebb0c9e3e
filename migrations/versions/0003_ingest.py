"""metric ingestion: applies sql/migrations/003_ingest.sql.

Revision ID: 0003
Revises: 0002
"""

from app.db.migrations import apply_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("003_ingest.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
