"""campaign settings versions: every edit of a live campaign is a campaign_versions row; campaigns
carry their current settings_version and outreaches the one they were planned under

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-02 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import agent.models.base

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaign_versions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('created_at', agent.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_versions_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_versions')),
    sa.UniqueConstraint('campaign_id', 'number', name=op.f('uq_campaign_versions_campaign_id_number'))
    )
    # Plain ADD COLUMNs (no batch): SQLite adds them in place, so neither table is rebuilt and the
    # search triggers of 0011 on outreaches stay as they are.
    op.add_column('campaigns', sa.Column('settings_version', sa.Integer(), nullable=False, server_default='1'))
    op.add_column('outreaches', sa.Column('settings_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    # DROP COLUMN in place on both databases (SQLite 3.35+): a batch copy would renumber the
    # outreaches' rowids and drop 0011's triggers with the old table.
    op.execute('ALTER TABLE outreaches DROP COLUMN settings_version')
    op.execute('ALTER TABLE campaigns DROP COLUMN settings_version')
    op.drop_table('campaign_versions')
