"""hardening: bounds, per-rule fault isolation, request-bound idempotency keys, audit guards always on:
applies sql/migrations/008_hardening.sql.

Revision ID: 0008
Revises: 0007
"""

from app.db.migrations import apply_sql_file

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("008_hardening.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
