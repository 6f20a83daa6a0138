"""Read a request body with a cap, inflating gzip with the same cap *while* inflating.

aiohttp's own decompression is turned off (``auto_decompress=False``) so this is the only place
a body is inflated: a gzip bomb stops at ``max_bytes + 1`` output bytes, whatever its ratio.
"""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import web

from pipeline.ingest._errors import BadRequest, RequestTimeout, TooLarge, UnsupportedMediaType

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_IDENTITY = frozenset({"", "identity"})
_GZIP = frozenset({"gzip", "x-gzip"})


def _too_large(max_bytes: int, what: str) -> TooLarge:
    return TooLarge(f"the request body is larger than {max_bytes} bytes {what}",
                    code="batch_too_large", limit=max_bytes,
                    hint="send fewer events per request (the SDKs split batches at 500 KB)")


async def read_body(request: web.Request, max_bytes: int, timeout_s: float) -> bytes:
    """The body, inflated when ``Content-Encoding: gzip``; at most ``max_bytes`` either way."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in _IDENTITY and encoding not in _GZIP:
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported",
                                   code="unsupported_encoding",
                                   hint="send the body as is or with Content-Encoding: gzip")
    length = request.content_length
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes, "(Content-Length)")
    raw = await _read_capped(request, max_bytes, timeout_s)
    return inflate(raw, max_bytes) if encoding in _GZIP else raw


async def _read_capped(request: web.Request, max_bytes: int, timeout_s: float) -> bytes:
    content = request.content
    if content.is_eof():  # the body arrived with the headers (the usual case): no waiting
        data = content.read_nowait()
        if len(data) > max_bytes:
            raise _too_large(max_bytes, "as sent")
        return data
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                chunk = await request.content.readany()
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes, "as sent")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {timeout_s:g} s",
                         code="body_timeout", hint="send the whole body promptly") from None
    return b"".join(chunks)


def inflate(data: bytes, max_bytes: int) -> bytes:
    """Gunzip ``data`` (one or more members), stopping at ``max_bytes + 1`` output bytes."""
    out: list[bytes] = []
    budget = max_bytes + 1
    while True:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        try:
            piece = inflater.decompress(data, budget)
        except zlib.error as err:
            raise BadRequest(f"the gzip body cannot be inflated: {err}", code="bad_gzip",
                             hint="send valid gzip with Content-Encoding: gzip") from None
        budget -= len(piece)
        out.append(piece)
        if budget <= 0 or inflater.unconsumed_tail:
            raise _too_large(max_bytes, "after inflating")
        if not inflater.eof:
            raise BadRequest("the gzip body is truncated", code="bad_gzip",
                             hint="send the complete gzip stream")
        data = inflater.unused_data
        if not data:
            return b"".join(out)
