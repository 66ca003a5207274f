"""The kept figures behind campaign stats, written only by the database triggers of migration 0016.

``stats_counts`` holds a campaign's counters by ``figure`` (``status:replied``, ``out:email:sent``,
``hm:2026-03-01 14:2`` ...): ``n`` a count, ``total`` a sum (call seconds; human calls in a
heatmap bucket). A counter is split over ``shard`` rows (on PostgreSQL each connection writes
rows of its own, its backend's pid, so concurrent writers never lock one row; shard 0 holds the
folded rows of connections that have gone, ``agent.reports.rollups.fold``); a figure is the sum
of its shards. ``stats_marks`` is one row per (enrollment, figure) for the distinct figures: ``n``
counts the enrollment's rows behind the figure and only its 0/1 crossings move the campaign's
counter; it carries the enrollment's replied / bounced / opted-out flags for the per-channel figures.
"""

from __future__ import annotations

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from agent.models.base import Base


class StatsCount(Base):
    __tablename__ = "stats_counts"
    campaign_id: Mapped[str] = mapped_column(String(40), primary_key=True)  # no FK: kept past a cascade
    figure: Mapped[str] = mapped_column(String(200), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[float] = mapped_column(Float, default=0)


class StatsMark(Base):
    __tablename__ = "stats_marks"
    enrollment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    figure: Mapped[str] = mapped_column(String(100), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(40))
    n: Mapped[int] = mapped_column(Integer, default=0)
    replied: Mapped[int] = mapped_column(Integer, default=0)
    bounced: Mapped[int] = mapped_column(Integer, default=0)
    opted_out: Mapped[int] = mapped_column(Integer, default=0)
