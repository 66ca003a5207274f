"""exports: export jobs get a lease, attempts, an error code and their file in chunks; remarketing
channels get an audience

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import agent.models.base

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('export_jobs') as batch:
        batch.add_column(sa.Column('started_at', agent.models.base.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('size_bytes', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('error_code', sa.String(length=60), nullable=True))
        batch.add_column(sa.Column('lease_until', agent.models.base.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
    op.create_table('export_chunks',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('export_id', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['export_id'], ['export_jobs.id'], name=op.f('fk_export_chunks_export_id_export_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_chunks')),
    sa.UniqueConstraint('export_id', 'seq', name=op.f('uq_export_chunks_export_id_seq'))
    )
    op.create_table('channel_audiences',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('channel_id', sa.String(length=40), nullable=False),
    sa.Column('enrollment_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_channel_audiences_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], name=op.f('fk_channel_audiences_enrollment_id_enrollments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_audiences')),
    sa.UniqueConstraint('channel_id', 'enrollment_id', name=op.f('uq_channel_audiences_channel_id_enrollment_id'))
    )
    with op.batch_alter_table('channel_audiences') as batch:
        batch.create_index(batch.f('ix_channel_audiences_enrollment_id'), ['enrollment_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('channel_audiences') as batch:
        batch.drop_index(batch.f('ix_channel_audiences_enrollment_id'))
    op.drop_table('channel_audiences')
    op.drop_table('export_chunks')
    with op.batch_alter_table('export_jobs') as batch:
        batch.drop_column('attempts')
        batch.drop_column('lease_until')
        batch.drop_column('error_code')
        batch.drop_column('size_bytes')
        batch.drop_column('started_at')
