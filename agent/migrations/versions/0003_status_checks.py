"""status checks: every status column accepts only its enum's words

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000

The word lists are written out here, not read from ``agent.states``: a migration records the
schema as it was when it ran. A later change to an enum ships a migration of its own.
On SQLite each table is recreated (batch mode) with foreign keys off, set in env.py.
"""

from __future__ import annotations

from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# (table, column, allowed words, NULL allowed)
CHECKS: list[tuple[str, str, tuple[str, ...], bool]] = [
    ('campaigns', 'type', ('one_time', 'follow_up'), False),
    ('campaigns', 'status', ('draft', 'active', 'paused', 'completed', 'cancelled', 'archived'), False),
    ('campaigns', 'execution_mode', ('scheduled', 'manual', 'on_contact_added'), False),
    ('contacts', 'priority', ('high', 'normal', 'low'), False),
    ('caller_numbers', 'status', ('active', 'disabled', 'excluded'), False),
    ('channels', 'status', ('ready', 'running', 'paused', 'completed', 'stopped'), False),
    ('enrollments', 'status', ('not_started', 'planning', 'awaiting_approval', 'awaiting_execution', 'executing', 'waiting', 'paused', 'campaign_paused', 'disabled', 'error', 'replied', 'completed', 'finished', 'disqualified', 'removed'), False),
    ('enrollments', 'substatus', ('scheduled', 'outside_working_hours', 'identity_limits', 'retry', 'waiting_to_connect', 'conversation_limit', 'missing_email', 'missing_phone', 'invalid_email', 'message_too_long', 'empty_message', 'missing_subject', 'missing_brief', 'missing_crm_id', 'missing_owner_id', 'channel_disconnected', 'identity_misconfigured', 'credits_exhausted', 'model_error', 'system_error', 'no_response', 'bounced', 'blocked', 'out_of_office', 'opted_out', 'max_attempts', 'not_connected', 'no_conversation', 'failed', 'manual'), True),
    ('export_jobs', 'status', ('queued', 'running', 'succeeded', 'failed', 'cancelled'), False),
    ('import_jobs', 'status', ('queued', 'running', 'succeeded', 'failed', 'cancelled'), False),
    ('planning_runs', 'status', ('queued', 'running', 'succeeded', 'failed', 'cancelled'), False),
    ('outreaches', 'status', ('awaiting_approval', 'approved', 'rejected', 'superseded', 'awaiting_execution', 'executing', 'sent', 'delivered', 'failed', 'unknown'), False),
    ('planning_run_items', 'status', ('queued', 'planned', 'failed', 'skipped'), False),
    ('conversations', 'status', ('open', 'closed'), False),
    ('conversations', 'answer_status', ('human', 'machine', 'no_answer', 'rejected'), True),
    ('evaluations', 'status', ('queued', 'running', 'succeeded', 'failed', 'cancelled'), False),
]


def _condition(column: str, words: tuple[str, ...], nullable: bool) -> str:
    quoted = ", ".join(f"'{w}'" for w in words)
    allowed = f"{column} IN ({quoted})"
    return f"{column} IS NULL OR {allowed}" if nullable else allowed


def _tables() -> list[str]:
    return list(dict.fromkeys(table for table, *_ in CHECKS))


def upgrade() -> None:
    for table in _tables():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, words, nullable in (c for c in CHECKS if c[0] == table):
                batch_op.create_check_constraint(op.f(f'ck_{table}_{column}'), _condition(column, words, nullable))


def downgrade() -> None:
    for table in reversed(_tables()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, _words, _nullable in (c for c in CHECKS if c[0] == table):
                batch_op.drop_constraint(op.f(f'ck_{table}_{column}'), type_='check')
