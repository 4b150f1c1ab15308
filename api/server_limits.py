"""The HTTP server's own limit on request header sections: over it, 431 at once, before the app.

uvicorn's httptools parser (llhttp) sets no limit on the header section: one 80 MB header
was read whole, slowing every other client and growing memory. This protocol counts the
bytes of each request's head as they arrive and, past `LEDGER_MAX_HEADER_BYTES`, answers 431 in
the API's error shape and closes the connection (at most one read buffer beyond the limit
is ever held). Bodies are limited by the app (413, api.bootstrap).
"""

from __future__ import annotations

from functools import cache

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.settings import Settings

# uvicorn's `http=` option: an import path, so that worker processes load it too.
HEAD_LIMITED = "api.server_limits:HeadLimitedProtocol"


@cache
def max_head_bytes() -> int:
    """LEDGER_MAX_HEADER_BYTES, read once per process."""
    return Settings().max_header_bytes


class HeadLimitedProtocol(HttpToolsProtocol):
    """httptools with a ceiling on each request's header section (request line and headers)."""

    _in_head = True  # between requests, or reading a request line and headers
    _head_bytes = 0
    _heads_read = 0

    def data_received(self, data: bytes) -> None:
        in_head, heads_read = self._in_head, self._heads_read
        super().data_received(data)
        if not in_head or self._heads_read != heads_read or self.transport.is_closing():
            return  # (a head completed in this chunk: whatever follows it is body or the next request)
        self._head_bytes += len(data)
        if self._head_bytes > max_head_bytes():
            self._refuse_head()

    def on_headers_complete(self) -> None:
        self._in_head, self._heads_read = False, self._heads_read + 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0  # the next request on this connection starts afresh

    def _refuse_head(self) -> None:
        self.logger.warning("request header section over %d bytes: refused with 431", max_head_bytes())
        body = orjson.dumps(
            {
                "error": {
                    "code": "headers_too_large",
                    "message": f"request header section over {max_head_bytes()} bytes",
                    "rule": None,
                }
            }
        )
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n"
        )
        self.transport.write(head + body)
        self.transport.close()
