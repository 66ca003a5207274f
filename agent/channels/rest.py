"""What the HTTP providers (Twilio, Vapi, Retell) share: one httpx client per event loop with
explicit timeouts and no retries of its own, and the typing of a provider's answer or a transport
error into the channel failures of ``base``.

The line between transient and ambiguous is whether the provider may hold the request: nothing
was handed over when the connection never opened; after the request went out, a missing answer
means nobody knows, so the send is never repeated by us.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from agent.channels.base import AmbiguousFailure, PermanentFailure, TransientFailure
from agent.states import Substatus

# Connect quickly or give up (nothing sent, safe to retry); allow a provider a while to answer.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)
DETAIL_MAX = 200  # characters of a provider's error text kept in an exception

# Raised before the request could reach the provider: connecting, waiting for a pooled
# connection, a URL httpx cannot use, or a body that could not be written out whole (a server
# acts on a complete request only).
_NOT_SENT: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                                          httpx.WriteTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a delay or an HTTP date), ``None`` when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, ``{}`` when it has none (an HTML error page, an empty body)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def status_failure(provider: str, response: httpx.Response, detail: str, *, code: str | None = None) -> Exception:
    """The failure an unsuccessful HTTP status means, for providers without finer error codes.

    408, 429 and 5xx: try again (after ``Retry-After`` when given). 401/403: our credentials are
    wrong, which no retry fixes and which is not the contact's fault. 402: the account's credits or
    balance are used up (topping it up fixes it, not the contact). Any other 4xx: the provider
    refused this message for good.
    """
    status = response.status_code
    code = code or str(status)
    text = f"{provider} answered {status}: {detail}" if detail else f"{provider} answered {status}"
    if status in (408, 429) or status >= 500:
        return TransientFailure(text, retry_after_s=retry_after(response), code=code)
    if status in (401, 403):
        return PermanentFailure(text, substatus=Substatus.channel_disconnected, code=code)
    if status == 402:
        return PermanentFailure(text, substatus=Substatus.credits_exhausted, code=code)
    return PermanentFailure(text, substatus=Substatus.failed, code=code)


class ProviderClient:
    """POSTs to one provider and turns transport errors into channel failures.

    httpx clients belong to the event loop that opened their connections, so one is kept per
    running loop (the worker has one loop; tests open many). Exception texts name the error's
    type only, never the request (whose headers carry the credentials).
    """

    def __init__(self, provider: str, *, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self.provider = provider
        self.timeout = timeout
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary())
        _EVERY.add(self)

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            # No redirects: a provider's 3xx is not an acceptance, and following it would resend.
            client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False,
                                       headers={"User-Agent": "overture"})
            self._clients[loop] = client
        return client

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.client().post(url, **kwargs)
        except _NOT_SENT as exc:
            raise TransientFailure(f"{self.provider}: the request did not reach the provider ({type(exc).__name__})",
                                   code=type(exc).__name__) from None
        except httpx.TransportError as exc:
            # A read timeout or a dropped connection after the request went out.
            raise AmbiguousFailure(f"{self.provider}: no answer after the request was sent ({type(exc).__name__}); "
                                   "it may have been accepted", code=type(exc).__name__) from None

    async def aclose(self) -> None:
        """Close the client of the running loop."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


_EVERY: weakref.WeakSet[ProviderClient] = weakref.WeakSet()


async def close_clients() -> None:
    """Close every provider's client of the running loop (call before the loop ends, as the
    worker's shutdown does for database engines); the next send opens a new one."""
    for provider_client in list(_EVERY):
        await provider_client.aclose()


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced, cut to ``DETAIL_MAX`` characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:DETAIL_MAX]


def detail_of(body: Mapping[str, Any], *keys: str) -> str:
    """The first of ``keys`` the error body has, as text (Vapi sends a list of messages)."""
    for key in keys:
        value = body.get(key)
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value)
        if value:
            return str(value)
    return ""
