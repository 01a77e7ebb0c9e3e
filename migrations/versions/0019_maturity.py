"""maturity: each ad account's maturity curve learned from its revisions, and the default curve in the
settings: applies sql/migrations/019_maturity.sql.

Revision ID: 0019
Revises: 0018
"""

from app.db.migrations import apply_sql_file

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("019_maturity.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
