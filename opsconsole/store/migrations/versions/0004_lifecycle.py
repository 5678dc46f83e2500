"""the customer lifecycle's read models: payment positions, onboardings, renewal readiness

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 20:40:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'payment_positions',
        sa.Column('invoice_id', sa.String(length=64), nullable=False),
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('invoice_number', sa.String(length=64), nullable=False),
        sa.Column('invoice_status', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('amount_due', sa.String(length=32), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('due_on', sa.String(length=10), nullable=True),
        sa.Column('days_overdue', sa.Integer(), nullable=False),
        sa.Column('aging_bucket', sa.String(length=8), nullable=False),
        sa.Column('financial_risk', sa.String(length=8), nullable=False),
        sa.Column('invoice_updated', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('invoice_id'),
    )
    op.create_index('ix_payment_positions_due', 'payment_positions', ['status', 'due_on'])
    op.create_index('ix_payment_positions_customer', 'payment_positions', ['customer_id'])
    op.create_table(
        'onboardings',
        sa.Column('order_key', sa.String(length=128), nullable=False),
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('order_number', sa.String(length=64), nullable=False),
        sa.Column('legal_name', sa.String(length=255), nullable=False),
        sa.Column('state', sa.String(length=24), nullable=False),
        sa.Column('stage', sa.String(length=24), nullable=False),
        sa.Column('plan', sa.JSON(), nullable=False),
        sa.Column('next_due_on', sa.String(length=10), nullable=True),
        sa.Column('delivery_risk', sa.String(length=8), nullable=False),
        sa.Column('delivery_risk_reason', sa.Text(), nullable=False),
        sa.Column('ordered_on', sa.String(length=10), nullable=True),
        sa.Column('started_at', sa.Float(), nullable=True),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('order_key'),
    )
    op.create_index('ix_onboardings_state', 'onboardings', ['state', 'next_due_on'])
    op.create_index('ix_onboardings_customer', 'onboardings', ['customer_id'])
    op.create_table(
        'renewals',
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('legal_name', sa.String(length=255), nullable=False),
        sa.Column('readiness', sa.String(length=24), nullable=False),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('deal_id', sa.String(length=64), nullable=False),
        sa.Column('deal_stage', sa.String(length=64), nullable=False),
        sa.Column('renewal_on', sa.String(length=10), nullable=True),
        sa.Column('inputs', sa.JSON(), nullable=False),
        sa.Column('evaluated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('customer_id'),
    )
    op.create_index('ix_renewals_readiness', 'renewals', ['readiness', 'renewal_on'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_renewals_readiness', table_name='renewals')
    op.drop_table('renewals')
    op.drop_index('ix_onboardings_customer', table_name='onboardings')
    op.drop_index('ix_onboardings_state', table_name='onboardings')
    op.drop_table('onboardings')
    op.drop_index('ix_payment_positions_customer', table_name='payment_positions')
    op.drop_index('ix_payment_positions_due', table_name='payment_positions')
    op.drop_table('payment_positions')
