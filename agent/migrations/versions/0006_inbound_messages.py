"""inbound_messages: replies, bounces, opt-outs and receipts, kept whole and applied once

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:09:01.049464
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import agent.models.base

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound_messages',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('external_id', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('bounce_type', sa.String(length=10), nullable=True),
    sa.Column('intent', sa.String(length=20), nullable=True),
    sa.Column('from_address', sa.String(length=320), nullable=True),
    sa.Column('to_address', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('raw', sa.LargeBinary(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('outreach_id', sa.String(length=40), nullable=True),
    sa.Column('enrollment_id', sa.String(length=40), nullable=True),
    sa.Column('contact_id', sa.String(length=40), nullable=True),
    sa.Column('conversation_id', sa.String(length=40), nullable=True),
    sa.Column('received_at', agent.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', agent.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("bounce_type IS NULL OR bounce_type IN ('hard', 'soft', 'blocked')", name=op.f('ck_inbound_messages_bounce_type')),
    sa.CheckConstraint("intent IS NULL OR intent IN ('interested', 'not_interested', 'question', 'referral', 'unsubscribe', 'out_of_office', 'other', 'unknown')", name=op.f('ck_inbound_messages_intent')),
    sa.CheckConstraint("kind IN ('reply', 'auto_reply', 'bounce', 'unsubscribe', 'opt_in', 'receipt', 'unmatched')", name=op.f('ck_inbound_messages_kind')),
    sa.CheckConstraint("status IN ('applied', 'unmatched', 'ignored', 'refused')", name=op.f('ck_inbound_messages_status')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_inbound_messages_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_inbound_messages_conversation_id_conversations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], name=op.f('fk_inbound_messages_enrollment_id_enrollments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['outreach_id'], ['outreaches.id'], name=op.f('fk_inbound_messages_outreach_id_outreaches'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_inbound_messages_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages')),
    sa.UniqueConstraint('channel', 'external_id', name=op.f('uq_inbound_messages_channel_external_id'))
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_messages_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_inbound_messages_enrollment', ['enrollment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_workspace_id'), ['workspace_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_messages_workspace_id'))
        batch_op.drop_index('ix_inbound_messages_enrollment')
        batch_op.drop_index(batch_op.f('ix_inbound_messages_contact_id'))

    op.drop_table('inbound_messages')
