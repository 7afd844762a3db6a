"""label queues: an index for keyset pages over a whole stage (LabelStore.queue)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 22:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ix_label_items_queue (stage_id, done, priority, id) serves pages of open or of done
    # items; a page over both needs (stage_id, priority, id) to seek without a sort.
    op.create_index(
        "ix_label_items_order", "label_items", ["stage_id", "priority", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_label_items_order", table_name="label_items")
