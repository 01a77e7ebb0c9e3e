"""one name per concept (platform x, action scale), the record of applied function files, the words
of each check in its comment: applies sql/migrations/009_one_name_per_concept.sql.

Revision ID: 0009
Revises: 0008
"""

from app.db.migrations import apply_sql_file

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("009_one_name_per_concept.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
