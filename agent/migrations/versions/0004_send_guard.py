"""send guard: cancelled outreaches, the brief a draft was made under, send attempts, the
opt-out link's token, and suppressions per channel

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:00:00.000000

The outreach status list is written out here (a migration records the schema as it was).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_BEFORE = ('awaiting_approval', 'approved', 'rejected', 'superseded', 'awaiting_execution', 'executing', 'sent',
           'delivered', 'failed', 'unknown')
_AFTER = _BEFORE + ('cancelled',)


def _status_check(words: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{w}'" for w in words) + ")"


def upgrade() -> None:
    with op.batch_alter_table('outreaches', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outreaches_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outreaches_status'), _status_check(_AFTER))
        batch_op.add_column(sa.Column('brief_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('send_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('unsubscribe_token', sa.String(length=40), nullable=True))
        batch_op.create_unique_constraint(op.f('uq_outreaches_unsubscribe_token'), ['unsubscribe_token'])
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=10), server_default='all', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_column('channel')
    op.execute("UPDATE outreaches SET status = 'failed' WHERE status = 'cancelled'")
    with op.batch_alter_table('outreaches', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('uq_outreaches_unsubscribe_token'), type_='unique')
        batch_op.drop_column('unsubscribe_token')
        batch_op.drop_column('send_attempts')
        batch_op.drop_column('brief_hash')
        batch_op.drop_constraint(op.f('ck_outreaches_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outreaches_status'), _status_check(_BEFORE))
