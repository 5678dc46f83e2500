"""index steps by finished_at, for the dashboard's retries in the last hour

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 21:00:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index('ix_steps_finished', 'steps', ['finished_at'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_steps_finished', table_name='steps')
