"""caller_numbers.provider_number_id: the voice provider's own id of a rotated caller number

Vapi places a call from a number it knows by its id (``phoneNumberId``), not by the digits, so a
rotated number carries that id beside its E.164 form. Nullable: Retell and Twilio dial by digits.

Revision ID: 0010_numref
Revises: 0009
Create Date: 2026-12-02 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_numref'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('caller_numbers') as batch:
        batch.add_column(sa.Column('provider_number_id', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('caller_numbers') as batch:
        batch.drop_column('provider_number_id')
