"""model metrics under the glossary's names: map -> map50_95, the executor's claim as executor_map50

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 20:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.alter_column(
            "map", new_column_name="map50_95", existing_type=sa.Float(), existing_nullable=True
        )
        batch.add_column(sa.Column("executor_map50", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("executor_map50")
        batch.alter_column(
            "map50_95", new_column_name="map", existing_type=sa.Float(), existing_nullable=True
        )
