"""events: trigger rules and their queue of campaigns, webhook endpoints, the outbox of events, their
deliveries and attempts: applies sql/migrations/011_events.sql.

Revision ID: 0011
Revises: 0010
"""

from app.db.migrations import apply_sql_file

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_file("011_events.sql")


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only: write a new revision instead")
