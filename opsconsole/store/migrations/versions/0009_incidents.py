"""incidents (alerting: one row per incident, its notices' delivery), and runs(workflow, status, finished_at)

The alerting job (opsconsole/engine/alerting.py) keeps one row per incident (an exception past its
SLA, a connector that stopped succeeding, a lost lease) so a restart does not alert again, and
records each notice's delivery (attempts, last error, next attempt) so a failed one is not lost.
The health report's last success per workflow (opsconsole/health.py) reads the new runs index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 23:30:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'incidents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('subject', sa.String(length=128), nullable=False),
        sa.Column('correlation_id', sa.String(length=64), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('resolution', sa.Text(), nullable=False),
        sa.Column('opened_at', sa.Float(), nullable=False),
        sa.Column('resolved_at', sa.Float(), nullable=True),
        sa.Column('alerted_at', sa.Float(), nullable=True),
        sa.Column('resolution_sent_at', sa.Float(), nullable=True),
        sa.Column('delivery', sa.String(length=16), nullable=False),
        sa.Column('delivered', sa.JSON(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('next_attempt_at', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_incidents_key', 'incidents', ['key', 'state'])
    op.create_index('ix_incidents_state', 'incidents', ['state', 'kind'])
    op.create_index('ix_incidents_delivery', 'incidents', ['delivery', 'next_attempt_at'])
    op.create_index('ix_runs_last_finished', 'runs', ['workflow', 'status', 'finished_at'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_runs_last_finished', table_name='runs')
    op.drop_index('ix_incidents_delivery', table_name='incidents')
    op.drop_index('ix_incidents_state', table_name='incidents')
    op.drop_index('ix_incidents_key', table_name='incidents')
    op.drop_table('incidents')
