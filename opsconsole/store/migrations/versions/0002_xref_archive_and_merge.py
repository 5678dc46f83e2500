"""xrefs: archived (a deletion in the source) and merged (a CRM merge re-pointed the row)

A deletion in one system never deletes anywhere else: the cross-reference row is kept and marked
archived, with why. A HubSpot merge re-points the merged record's row to the primary's customer and
keeps the customer it pointed to before as ``previous_canonical_id`` (an alias a person can follow).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('xrefs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('archived_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('merged_into', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('previous_canonical_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('xrefs', schema=None) as batch_op:
        batch_op.drop_column('previous_canonical_id')
        batch_op.drop_column('merged_into')
        batch_op.drop_column('archived_reason')
        batch_op.drop_column('archived_at')
