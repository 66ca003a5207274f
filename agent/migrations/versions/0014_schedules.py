"""schedules: reusable business hours per workspace (time zone, hours per weekday, holidays);
campaigns link one through a nullable schedule_id

A campaign keeps its inline ``schedule`` column for the clients that set hours that way; at most
one of the two is set (agent/campaigns/service.py). Deleting a schedule sets the link to NULL
(the service first copies the hours inline, and refuses while a live campaign uses them).

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-02 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import agent.models.base

revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('schedules',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('business_hours', sa.JSON(), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('created_at', agent.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', agent.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_schedules_workspace_id_workspaces'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedules')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_schedules_workspace_id_name'))
    )
    # SQLite rebuilds campaigns for the foreign key (env.py turns foreign keys off meanwhile, so
    # the rows pointing at campaigns survive); campaigns has no search triggers to recreate.
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('schedule_id', sa.String(length=40), nullable=True))
        batch.create_foreign_key(batch.f('fk_campaigns_schedule_id_schedules'), 'schedules', ['schedule_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_index(batch.f('ix_campaigns_schedule_id'), ['schedule_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_index(batch.f('ix_campaigns_schedule_id'))
        batch.drop_constraint(batch.f('fk_campaigns_schedule_id_schedules'), type_='foreignkey')
        batch.drop_column('schedule_id')
    op.drop_table('schedules')
