"""An app that has stopped is freed: nothing module-level keeps it alive.

FastAPI keeps every endpoint it has classified in module-level caches (4,096 entries each), so an
endpoint defined as a closure over the app kept the whole app (its routes, their pydantic
schemas: ~25,000 objects) for as long as the process lived. A test process builds an app per
test, and its heap grew past 8 million objects in 300 tests, every one of them walked by each
full garbage collection (CI saw requests wait 20 s behind one).
"""

from __future__ import annotations

import gc
import weakref

import httpx

from agent.db import dispose_engines
from api.app import create_app
from tests.conftest import bearer, make_key


async def test_an_app_that_served_and_stopped_is_freed(settings):
    gone: list[weakref.ref] = []
    for _ in range(3):
        app = create_app(settings, run_scheduler=False)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://overture.test") as c:
                headers = bearer(await make_key("admin"))
                for path in ("/docs", "/openapi.json", "/healthz", "/v1/campaigns", "/inbox/campaigns"):
                    r = await c.get(path, headers=headers)
                    assert r.status_code < 400, (path, r.status_code)
        await dispose_engines()
        gone.append(weakref.ref(app))
        del app, c, r
    gc.collect()
    alive = [ref() for ref in gone if ref() is not None]
    assert not alive, [gc.get_referrers(a)[:3] for a in alive]
