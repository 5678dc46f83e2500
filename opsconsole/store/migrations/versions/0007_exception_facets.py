"""index exceptions by the `/` filter's facets (category, workflow, owner), each then by state

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 21:30:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index('ix_exc_category', 'exceptions', ['category', 'state', 'created_at'])
    op.create_index('ix_exc_workflow', 'exceptions', ['workflow', 'state', 'created_at'])
    op.create_index('ix_exc_owner', 'exceptions', ['owner', 'state'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_exc_owner', table_name='exceptions')
    op.drop_index('ix_exc_workflow', table_name='exceptions')
    op.drop_index('ix_exc_category', table_name='exceptions')
