"""The HTTP client both data planes forward invocations and health checks with, to a 127.0.0.1 listener."""

from __future__ import annotations

import asyncio

import httpx

from reference.backend.settings import BackendSettings
from reference.ports import ForwardRequest, ForwardResponse


class ForwardingClient:
    """One httpx client per event loop (a client cannot be shared across loops; tests run several).

    `keep_alive=False`: every request opens a connection of its own (see the port-forward plane for why).
    """

    def __init__(self, settings: BackendSettings, *, keep_alive: bool = True) -> None:
        self.settings = settings
        self.keep_alive = keep_alive
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def timeout(self) -> httpx.Timeout:
        s = self.settings
        return httpx.Timeout(connect=s.forward_connect_timeout, read=s.forward_read_timeout, write=60.0, pool=10.0)

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            options = {} if self.keep_alive else {"limits": httpx.Limits(max_keepalive_connections=0)}
            client = httpx.AsyncClient(timeout=self.timeout(), follow_redirects=False, trust_env=False, **options)
            # The function gets the caller's headers, not httpx's defaults on top of them.
            for name in ("accept", "accept-encoding", "user-agent"):
                client.headers.pop(name, None)
            self._client = client
            self._loop = loop
        return self._client

    async def forward(self, port: int, request: ForwardRequest) -> ForwardResponse:
        """Send `request` to 127.0.0.1:`port`; httpx's errors are the caller's to explain."""
        url = f"http://127.0.0.1:{port}{request.path or '/'}" + (f"?{request.query}" if request.query else "")
        client = self.client()
        outgoing = client.build_request(request.method, url, headers=list(request.headers), content=request.body,
                                        timeout=self.timeout())
        reply = await client.send(outgoing, stream=True)
        try:
            # Raw bytes: the caller gets the body exactly as the function encoded it.
            body = b"".join([chunk async for chunk in reply.aiter_raw()])
        finally:
            await reply.aclose()
        return ForwardResponse(reply.status_code, tuple(reply.headers.multi_items()), body)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        # A client of a loop that has ended cannot be closed from another one; it goes with its loop.
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()
