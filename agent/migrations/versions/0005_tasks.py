"""tasks: the manual task channel's work list

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00.000000

The status words are written out here (a migration records the schema as it was).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import agent.models.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_STATUSES = ('pending', 'completed')


def upgrade() -> None:
    op.create_table('tasks',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('contact_id', sa.String(length=40), nullable=False),
    sa.Column('enrollment_id', sa.String(length=40), nullable=True),
    sa.Column('outreach_id', sa.String(length=40), nullable=True),
    sa.Column('idempotency_key', sa.String(length=80), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('completed_by', sa.String(length=40), nullable=True),
    sa.Column('completed_at', agent.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', agent.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', agent.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN (" + ", ".join(f"'{w}'" for w in _STATUSES) + ")", name=op.f('ck_tasks_status')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_tasks_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_tasks_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], name=op.f('fk_tasks_enrollment_id_enrollments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['outreach_id'], ['outreaches.id'], name=op.f('fk_tasks_outreach_id_outreaches'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_tasks_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_tasks_idempotency_key'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tasks_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_enrollment_id'), ['enrollment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_outreach_id'), ['outreach_id'], unique=False)
        batch_op.create_index('ix_tasks_ws_status_id', ['workspace_id', 'status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('tasks')
