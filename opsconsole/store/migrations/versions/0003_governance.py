"""governance: the golden record's per-field provenance, conflicts and corrections; customers by domain

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 17:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'golden_fields',
        sa.Column('entity', sa.String(length=32), nullable=False),
        sa.Column('canonical_id', sa.String(length=64), nullable=False),
        sa.Column('field', sa.String(length=64), nullable=False),
        sa.Column('value', sa.JSON(), nullable=True),
        sa.Column('system', sa.String(length=32), nullable=False),
        sa.Column('event_id', sa.String(length=255), nullable=False),
        sa.Column('set_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('entity', 'canonical_id', 'field'),
    )
    op.create_table(
        'conflicts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('entity', sa.String(length=32), nullable=False),
        sa.Column('canonical_id', sa.String(length=64), nullable=False),
        sa.Column('field', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=32), nullable=False),
        sa.Column('rule', sa.Text(), nullable=False),
        sa.Column('values', sa.JSON(), nullable=False),
        sa.Column('challenger', sa.String(length=32), nullable=False),
        sa.Column('proposed', sa.Text(), nullable=False),
        sa.Column('billing_impacting', sa.Boolean(), nullable=False),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('event_id', sa.String(length=255), nullable=False),
        sa.Column('dedupe_key', sa.String(length=255), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('resolution', sa.String(length=32), nullable=False),
        sa.Column('resolved_by', sa.String(length=64), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('correction_id', sa.Integer(), nullable=True),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('resolved_at', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedupe_key'),
    )
    op.create_index('ix_conflicts_state', 'conflicts', ['state', 'created_at'], unique=False)
    op.create_index('ix_conflicts_record', 'conflicts', ['entity', 'canonical_id'], unique=False)
    op.create_table(
        'corrections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conflict_id', sa.Integer(), nullable=True),
        sa.Column('entity', sa.String(length=32), nullable=False),
        sa.Column('canonical_id', sa.String(length=64), nullable=False),
        sa.Column('field', sa.String(length=64), nullable=False),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('after', sa.JSON(), nullable=True),
        sa.Column('target_system', sa.String(length=32), nullable=False),
        sa.Column('billing_impacting', sa.Boolean(), nullable=False),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('decided_by', sa.String(length=64), nullable=False),
        sa.Column('decision_reason', sa.Text(), nullable=False),
        sa.Column('approval_audit_id', sa.Integer(), nullable=True),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('decided_at', sa.Float(), nullable=True),
        sa.Column('applied_at', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_corrections_state', 'corrections', ['state', 'created_at'], unique=False)
    op.create_index('ix_customers_domain', 'customers', ['domain'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_customers_domain', table_name='customers')
    op.drop_index('ix_corrections_state', table_name='corrections')
    op.drop_table('corrections')
    op.drop_index('ix_conflicts_record', table_name='conflicts')
    op.drop_index('ix_conflicts_state', table_name='conflicts')
    op.drop_table('conflicts')
    op.drop_table('golden_fields')
