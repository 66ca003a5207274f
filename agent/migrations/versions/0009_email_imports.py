"""email_imports: each campaign's import-by-email address, mapping and authorized sender

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import agent.models.base

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('email_imports',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('authorized_sender', sa.String(length=320), nullable=False),
    sa.Column('created_at', agent.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', agent.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_email_imports_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_email_imports_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_imports')),
    sa.UniqueConstraint('campaign_id', name=op.f('uq_email_imports_campaign_id')),
    sa.UniqueConstraint('token', name=op.f('uq_email_imports_token'))
    )


def downgrade() -> None:
    op.drop_table('email_imports')
