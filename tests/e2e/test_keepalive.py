"""Issue 16: a 500 never leaves a keep-alive connection broken. Over a real uvicorn server and
one TCP connection, a request whose handler raises gets a problem+json 500 and the next request
on the same connection gets its answer (before, the server closed the connection after the 500
and the next request was reset)."""

import asyncio
import socket

import httpx
import uvicorn

from agent.campaigns import service as campaigns


def _client_port(r: httpx.Response) -> int:
    return r.extensions["network_stream"].get_extra_info("client_addr")[1]


async def test_the_request_after_a_500_is_answered_on_the_same_connection(app, admin, monkeypatch):
    async def boom(*_, **__):
        raise RuntimeError("an unexpected failure inside a service")

    monkeypatch.setattr(campaigns, "list_campaigns", boom)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="critical"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=admin,
                                     limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)) as client:
            for _ in range(2):  # twice: the connection survives more than one failure
                failed = await client.get("/v1/campaigns")
                assert failed.status_code == 500, failed.text
                port = _client_port(failed)
                assert failed.headers["content-type"].startswith("application/problem+json")
                assert failed.json()["code"] == "internal_error"
                assert "unexpected failure" not in failed.text  # nothing internal leaks
                assert failed.headers.get("connection", "").lower() != "close"
                after = await client.post("/v1/campaigns", json={"name": "after the 500"})
                assert after.status_code == 201, after.text
                assert _client_port(after) == port  # the same TCP connection
    finally:
        server.should_exit = True
        await serving
