"""Keeping the stats rollups small: the counter rows of closed connections fold into shard 0.

On PostgreSQL each connection adds to counter rows of its own (``shard`` = its backend's pid,
migration 0016), so no two writers ever lock one counter row. A connection that has closed
leaves its rows behind; :func:`fold` moves them into shard 0 in one statement (deleted and added
in the same transaction, so a stats read sees the figures unchanged). Rows of a live backend
are never touched, and shard 0 is written by nobody else, so the fold waits on no writer. It runs
on the scheduler's tick; SQLite writes shard 0 only and has nothing to fold.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_FOLD = text("""
WITH gone AS (
    DELETE FROM stats_counts
    WHERE shard <> 0 AND shard NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
    RETURNING campaign_id, figure, n, total)
INSERT INTO stats_counts (campaign_id, figure, shard, n, total)
SELECT campaign_id, figure, 0, sum(n), sum(total) FROM gone GROUP BY campaign_id, figure
ORDER BY campaign_id, figure
ON CONFLICT (campaign_id, figure, shard) DO UPDATE
SET n = stats_counts.n + excluded.n, total = stats_counts.total + excluded.total
""")


async def fold(session: AsyncSession) -> int:
    """Fold the counter rows of connections that have closed into shard 0; how many figures
    took some (0 on SQLite). The caller commits."""
    if session.get_bind().dialect.name != "postgresql":
        return 0
    return (await session.execute(_FOLD)).rowcount or 0
