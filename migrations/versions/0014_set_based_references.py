"""set-based references: the audit trail's and opportunities' references checked once per statement,
rows referred to never deleted or renumbered, campaign pages half free for in-place updates: applies
sql/migrations/014_set_based_references.sql.

Revision ID: 0014
Revises: 0013
"""

from app.db.migrations import apply_sql_file

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("014_set_based_references.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
