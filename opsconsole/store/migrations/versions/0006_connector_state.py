"""connectors: paused state (operator), health (the engine's governors), indexes for the Connectors pane

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 21:20:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'connector_state',
        sa.Column('system', sa.String(length=32), nullable=False),
        sa.Column('paused', sa.Boolean(), nullable=False),
        sa.Column('paused_by', sa.String(length=64), nullable=False),
        sa.Column('paused_at', sa.Float(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('system'),
    )
    op.create_table(
        'connector_health',
        sa.Column('system', sa.String(length=32), nullable=False),
        sa.Column('budget_left', sa.Integer(), nullable=True),
        sa.Column('budget_limit', sa.Integer(), nullable=True),
        sa.Column('blocked_for_s', sa.Float(), nullable=False),
        sa.Column('throttled', sa.Integer(), nullable=False),
        sa.Column('vendor_said_at', sa.Float(), nullable=True),
        sa.Column('recorded_at', sa.Float(), nullable=False),
        sa.Column('holder', sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint('system'),
    )
    op.create_index('ix_spans_system', 'spans', ['system', 'started_at'])
    op.create_index('ix_rejected_source', 'rejected_webhooks', ['source', 'at'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_rejected_source', table_name='rejected_webhooks')
    op.drop_index('ix_spans_system', table_name='spans')
    op.drop_table('connector_health')
    op.drop_table('connector_state')
