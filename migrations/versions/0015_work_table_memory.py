"""work table memory: every session of the database may keep up to 256 MB of temporary pages, so a
cycle's work tables stay in memory: applies sql/migrations/015_work_table_memory.sql.

Revision ID: 0015
Revises: 0014
"""

from app.db.migrations import apply_sql_file

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("015_work_table_memory.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
