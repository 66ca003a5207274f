"""number pacing and voice call leases: rotation marks, the campaign's call interval, sticky numbers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 12:15:00.000000

- ``caller_numbers.last_called_at`` (round robin: the number idle longest goes next) and a
  unique (campaign_id, number): a campaign never holds one number twice, whatever the API races;
- ``campaigns.last_call_at``: the call interval's compare-and-set, shared by every worker;
- ``outreaches.caller_number_id`` (the number a call went out on: the contact keeps it) and
  ``outreaches.lease_until`` (a placed call stays ``executing`` until its report, up to this).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import agent.models.base

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('caller_numbers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_called_at', agent.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_caller_numbers_campaign_id_number'), ['campaign_id', 'number'])
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_call_at', agent.models.base.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('outreaches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caller_number_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('lease_until', agent.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outreaches', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
        batch_op.drop_column('caller_number_id')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('last_call_at')
    with op.batch_alter_table('caller_numbers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_caller_numbers_campaign_id_number'), type_='unique')
        batch_op.drop_column('last_called_at')
