"""One worker process for the cross-process caps test: steps a shared simulated clock and sends
every due voice outreach through the real executor, writing each delivery to a file.

Usage: python -m tests.agent.number_worker <database url> <deliveries file> <start iso> <seconds>
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import uuid

from sqlalchemy import or_, select

from agent.channels import OutboundMessage, SendResult
from agent.db import dispose_engines, session_scope
from agent.executor import execute
from agent.models import Outreach
from agent.settings import Settings, use_settings


class Recorder:
    name = "recorder"

    def __init__(self, path: str) -> None:
        self.path = path

    async def send(self, message: OutboundMessage) -> SendResult:
        with open(self.path, "a") as f:  # noqa: ASYNC230 - one short line; O_APPEND writes do not interleave
            f.write(json.dumps({"outreach": message.outreach_id, "from": message.config.get("from_number"),
                                "pid": os.getpid()}) + "\n")
        return SendResult(provider="recorder", provider_message_id=str(uuid.uuid4()))


async def main(url: str, path: str, start: str, seconds: int) -> None:
    use_settings(Settings(_env_file=None, database_url=url, broker_url=None))
    t0 = dt.datetime.fromisoformat(start)
    channel = Recorder(path)
    for k in range(seconds):
        now = t0 + dt.timedelta(seconds=k)
        async with session_scope() as s:
            due = (await s.execute(select(Outreach.id).where(
                Outreach.status == "awaiting_execution",
                or_(Outreach.scheduled_at.is_(None), Outreach.scheduled_at <= now)))).scalars().all()
        for oid in due:
            await execute(oid, now=now, channel=channel)
    await dispose_engines()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
