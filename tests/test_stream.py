"""The tee stream: the client sees what the inner transport sent; the guard sees the body."""

from __future__ import annotations

import datetime
import gzip
import json
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal

import httpx
import pytest

from guard._stream import AsyncTeeStream, TeeStream, decode_json, tee

URL = "https://casino.purpleflea.com/api/v1/bets"
JSON_HEADERS = {"content-type": "application/json"}
BODY = json.dumps({"bet_id": "b-1", "pnl": 0.1, "balance": 12.345678901234567}).encode()
CHUNKS = [BODY[:10], BODY[10:25], BODY[25:]]
Outcome = tuple[bytes | None, BaseException | None]


class OneShotAsync(httpx.AsyncByteStream):
    """Yields ``chunks`` (then raises ``fail``) once; a second iteration is a bug."""

    def __init__(self, chunks: list[bytes], fail: BaseException | None = None) -> None:
        self.chunks, self.fail = chunks, fail
        self.pulled = self.closed = 0
        self.iterated = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.iterated:
            raise RuntimeError("one-shot stream iterated twice")
        self.iterated = True
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk
        if self.fail is not None:
            raise self.fail

    async def aclose(self) -> None:
        self.closed += 1


class OneShotSync(httpx.SyncByteStream):
    """The sync twin of ``OneShotAsync``."""

    def __init__(self, chunks: list[bytes], fail: BaseException | None = None) -> None:
        self.chunks, self.fail = chunks, fail
        self.pulled = self.closed = 0
        self.iterated = False

    def __iter__(self) -> Iterator[bytes]:
        if self.iterated:
            raise RuntimeError("one-shot stream iterated twice")
        self.iterated = True
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk
        if self.fail is not None:
            raise self.fail

    def close(self) -> None:
        self.closed += 1


class Recorder:
    """An ``on_close`` callback that records every call."""

    def __init__(self) -> None:
        self.calls: list[Outcome] = []

    def __call__(self, body: bytes | None, error: BaseException | None) -> None:
        self.calls.append((body, error))


Handler = Callable[[httpx.Request], httpx.Response]


class AsyncTeeTransport(httpx.AsyncBaseTransport):
    """The smallest guard-like wrapper: inner MockTransport, then ``tee`` the response."""

    def __init__(self, handler: Handler, on_close: Callable[..., object], **kw: object) -> None:
        self.inner = httpx.MockTransport(handler)
        self.on_close, self.kw = on_close, kw
        self.tees: list[object] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        tee(response, self.on_close, **self.kw)  # type: ignore[arg-type]
        self.tees.append(response.stream)
        return response


class TeeTransport(httpx.BaseTransport):
    """The sync twin of ``AsyncTeeTransport``."""

    def __init__(self, handler: Handler, on_close: Callable[..., object], **kw: object) -> None:
        self.inner = httpx.MockTransport(handler)
        self.on_close, self.kw = on_close, kw
        self.tees: list[object] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        tee(response, self.on_close, **self.kw)  # type: ignore[arg-type]
        self.tees.append(response.stream)
        return response


def json_handler(
    chunks: list[bytes], headers: dict[str, str] | None = None, *, sync: bool = False
) -> Handler:
    """A handler that returns a fresh one-shot stream of ``chunks`` for every request."""

    def handler(request: httpx.Request) -> httpx.Response:
        stream = OneShotSync(chunks) if sync else OneShotAsync(chunks)
        return httpx.Response(200, headers=headers or JSON_HEADERS, stream=stream)

    return handler


def gzip_chunks(payload: bytes, n: int = 4) -> list[bytes]:
    raw = gzip.compress(payload)
    step = max(1, len(raw) // n)
    return [raw[i : i + step] for i in range(0, len(raw), step)]


# --- async client -------------------------------------------------------------------------------


async def test_get_matches_untee_d_client_and_reports_full_body() -> None:
    """client.get gives the same content and JSON as without the tee; on_close gets the body."""
    rec = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(json_handler(CHUNKS))) as plain:
        expected = await plain.get(URL)
    async with httpx.AsyncClient(transport=AsyncTeeTransport(json_handler(CHUNKS), rec)) as c:
        r = await c.get(URL)
    assert (r.content, r.json(), r.headers) == (expected.content, expected.json(), expected.headers)
    assert rec.calls == [(BODY, None)]


async def test_gzip_body_decodes_for_client_and_decode_json_keeps_decimals() -> None:
    """A gzip JSON body decodes for the client; the raw copy decodes with exact Decimals."""
    rec = Recorder()
    chunks = gzip_chunks(BODY)
    headers = {**JSON_HEADERS, "content-encoding": "gzip"}
    transport = AsyncTeeTransport(json_handler(chunks, headers), rec)
    async with httpx.AsyncClient(transport=transport) as c:
        r = await c.get(URL)
    assert r.json() == json.loads(BODY)
    body, error = rec.calls[0]
    assert (body, error) == (b"".join(chunks), None)
    assert body is not None
    parsed = decode_json(r.status_code, r.headers, body)
    assert parsed == {
        "bet_id": "b-1",
        "pnl": Decimal("0.1"),
        "balance": Decimal("12.345678901234567"),
    }


async def test_stream_aiter_raw_yields_same_chunks() -> None:
    """client.stream + aiter_raw yields the inner raw bytes in the same chunks."""
    chunks = gzip_chunks(BODY)
    headers = {**JSON_HEADERS, "content-encoding": "gzip"}
    rec = Recorder()
    async with (
        httpx.AsyncClient(transport=AsyncTeeTransport(json_handler(chunks, headers), rec)) as c,
        c.stream("GET", URL) as r,
    ):
        got = [chunk async for chunk in r.aiter_raw()]
    assert got == chunks
    assert rec.calls == [(b"".join(chunks), None)]


async def test_stream_does_not_read_ahead() -> None:
    """The tee pulls one inner chunk per chunk the client reads."""
    inner = OneShotAsync(CHUNKS)
    transport = AsyncTeeTransport(
        lambda _: httpx.Response(200, headers=JSON_HEADERS, stream=inner), Recorder()
    )
    async with httpx.AsyncClient(transport=transport) as c, c.stream("GET", URL) as r:
        assert inner.pulled == 0
        async for _ in r.aiter_raw():
            assert inner.pulled == 1
            break


async def test_elapsed_is_set_after_reading() -> None:
    """response.elapsed is available after client.get reads the body."""
    async with httpx.AsyncClient(
        transport=AsyncTeeTransport(json_handler(CHUNKS), Recorder())
    ) as c:
        r = await c.get(URL)
    assert isinstance(r.elapsed, datetime.timedelta)


async def test_body_over_cap_reaches_client_and_reports_none() -> None:
    """A body over the cap reaches the client complete; on_close gets None."""
    rec = Recorder()
    async with httpx.AsyncClient(
        transport=AsyncTeeTransport(json_handler(CHUNKS), rec, cap=len(BODY) - 1)
    ) as c:
        r = await c.get(URL)
    assert r.content == BODY
    assert rec.calls == [(None, None)]


async def test_body_exactly_at_cap_is_kept() -> None:
    """A body of exactly cap bytes is still reported."""
    rec = Recorder()
    async with httpx.AsyncClient(
        transport=AsyncTeeTransport(json_handler(CHUNKS), rec, cap=len(BODY))
    ) as c:
        await c.get(URL)
    assert rec.calls == [(BODY, None)]


async def test_stream_closed_early_reports_none() -> None:
    """A client that reads one chunk and closes gives body None, error None; inner closed once."""
    rec = Recorder()
    inner = OneShotAsync(CHUNKS)
    transport = AsyncTeeTransport(
        lambda _: httpx.Response(200, headers=JSON_HEADERS, stream=inner), rec
    )
    async with httpx.AsyncClient(transport=transport) as c, c.stream("GET", URL) as r:
        async for _ in r.aiter_raw():
            break
    assert rec.calls == [(None, None)]
    assert inner.closed == 1


@pytest.mark.parametrize(
    "boom",
    [httpx.RemoteProtocolError("peer closed connection"), httpx.ReadTimeout("read timed out")],
)
async def test_error_mid_body_reaches_client_unchanged_and_is_reported(
    boom: httpx.HTTPError,
) -> None:
    """An exception mid-body reaches the client as the same object; on_close gets it too."""
    rec = Recorder()
    transport = AsyncTeeTransport(
        lambda _: httpx.Response(200, headers=JSON_HEADERS, stream=OneShotAsync(CHUNKS, boom)),
        rec,
    )
    async with httpx.AsyncClient(transport=transport) as c:
        with pytest.raises(type(boom)) as caught:
            await c.get(URL)
    assert caught.value is boom
    assert rec.calls == [(None, boom)]


async def test_raising_callback_does_not_break_client() -> None:
    """A callback that raises leaves the client's response intact; the error is kept."""
    oops = RuntimeError("ledger down")

    def bad(body: bytes | None, error: BaseException | None) -> None:
        raise oops

    transport = AsyncTeeTransport(json_handler(CHUNKS), bad)
    async with httpx.AsyncClient(transport=transport) as c:
        r = await c.get(URL)
    assert r.content == BODY
    stream = transport.tees[0]
    assert isinstance(stream, AsyncTeeStream)
    assert stream.callback_error is oops


async def test_callback_error_hook_receives_the_exception() -> None:
    """on_callback_error gets the callback's exception, and its own failure is swallowed too."""
    seen: list[Exception] = []

    def bad(body: bytes | None, error: BaseException | None) -> None:
        raise KeyError("x")

    def hook(exc: Exception) -> None:
        seen.append(exc)
        raise RuntimeError("hook failed too")

    transport = AsyncTeeTransport(json_handler(CHUNKS), bad, on_callback_error=hook)
    async with httpx.AsyncClient(transport=transport) as c:
        r = await c.get(URL)
    assert r.content == BODY
    assert [type(e) for e in seen] == [KeyError]


async def test_async_callback_is_awaited() -> None:
    """An async on_close is awaited before aclose returns."""
    calls: list[Outcome] = []

    async def record(body: bytes | None, error: BaseException | None) -> None:
        calls.append((body, error))

    async with httpx.AsyncClient(transport=AsyncTeeTransport(json_handler(CHUNKS), record)) as c:
        await c.get(URL)
    assert calls == [(BODY, None)]


async def test_aclose_twice_calls_callback_once() -> None:
    """aclose is idempotent: the inner stream is closed and the callback called once."""
    rec = Recorder()
    inner = OneShotAsync(CHUNKS)
    stream = AsyncTeeStream(inner, rec)
    assert [c async for c in stream] == CHUNKS
    await stream.aclose()
    await stream.aclose()
    assert rec.calls == [(BODY, None)]
    assert inner.closed == 1


async def test_byte_stream_is_readable_by_async_client() -> None:
    """tee keeps an httpx.ByteStream readable by an async client."""
    rec = Recorder()
    transport = AsyncTeeTransport(
        lambda _: httpx.Response(200, headers=JSON_HEADERS, stream=httpx.ByteStream(BODY)), rec
    )
    async with httpx.AsyncClient(transport=transport) as c:
        r = await c.get(URL)
    assert r.content == BODY
    assert rec.calls == [(BODY, None)]


# --- sync client --------------------------------------------------------------------------------


def test_sync_get_matches_and_reports_full_body() -> None:
    """Sync client.get gives the same JSON as without the tee; on_close gets the body."""
    rec = Recorder()
    with httpx.Client(transport=TeeTransport(json_handler(CHUNKS, sync=True), rec)) as c:
        r = c.get(URL)
    assert (r.content, r.json()) == (BODY, json.loads(BODY))
    assert isinstance(r.elapsed, datetime.timedelta)
    assert rec.calls == [(BODY, None)]


def test_sync_stream_iter_raw_yields_same_chunks_without_read_ahead() -> None:
    """Sync client.stream + iter_raw yields the same chunks, one inner pull per chunk."""
    rec = Recorder()
    inner = OneShotSync(CHUNKS)
    transport = TeeTransport(lambda _: httpx.Response(200, headers=JSON_HEADERS, stream=inner), rec)
    got = []
    with httpx.Client(transport=transport) as c, c.stream("GET", URL) as r:
        for chunk in r.iter_raw():
            got.append(chunk)
            assert inner.pulled == len(got)
    assert got == CHUNKS
    assert rec.calls == [(BODY, None)]


def test_sync_body_over_cap_reports_none() -> None:
    """Sync: a body over the cap reaches the client complete; on_close gets None."""
    rec = Recorder()
    with httpx.Client(transport=TeeTransport(json_handler(CHUNKS, sync=True), rec, cap=8)) as c:
        r = c.get(URL)
    assert r.content == BODY
    assert rec.calls == [(None, None)]


def test_sync_stream_closed_early_reports_none() -> None:
    """Sync: reading one chunk then closing gives body None."""
    rec = Recorder()
    with (
        httpx.Client(transport=TeeTransport(json_handler(CHUNKS, sync=True), rec)) as c,
        c.stream("GET", URL) as r,
    ):
        next(r.iter_raw())
    assert rec.calls == [(None, None)]


def test_sync_error_mid_body_reaches_client_unchanged() -> None:
    """Sync: a mid-body error reaches the client as the same object; on_close gets it."""
    rec = Recorder()
    boom = httpx.RemoteProtocolError("peer closed connection")
    transport = TeeTransport(
        lambda _: httpx.Response(200, headers=JSON_HEADERS, stream=OneShotSync(CHUNKS, boom)),
        rec,
    )
    with httpx.Client(transport=transport) as c, pytest.raises(httpx.RemoteProtocolError) as caught:
        c.get(URL)
    assert caught.value is boom
    assert rec.calls == [(None, boom)]


def test_sync_raising_callback_does_not_break_client() -> None:
    """Sync: a callback that raises leaves the response intact; the error is kept."""

    def bad(body: bytes | None, error: BaseException | None) -> None:
        raise RuntimeError("ledger down")

    transport = TeeTransport(json_handler(CHUNKS, sync=True), bad)
    with httpx.Client(transport=transport) as c:
        r = c.get(URL)
    assert r.json() == json.loads(BODY)
    stream = transport.tees[0]
    assert isinstance(stream, TeeStream)
    assert isinstance(stream.callback_error, RuntimeError)


def test_sync_async_callback_is_rejected_without_warning() -> None:
    """Sync: an async on_close is closed unawaited and recorded as a TypeError."""

    async def record(body: bytes | None, error: BaseException | None) -> None:
        raise AssertionError("never runs")

    transport = TeeTransport(json_handler(CHUNKS, sync=True), record)
    with httpx.Client(transport=transport) as c:
        r = c.get(URL)
    assert r.content == BODY
    stream = transport.tees[0]
    assert isinstance(stream, TeeStream)
    assert isinstance(stream.callback_error, TypeError)


def test_byte_stream_is_readable_by_sync_client() -> None:
    """tee keeps an httpx.ByteStream readable by a sync client."""
    rec = Recorder()
    transport = TeeTransport(
        lambda _: httpx.Response(200, headers=JSON_HEADERS, stream=httpx.ByteStream(BODY)), rec
    )
    with httpx.Client(transport=transport) as c:
        r = c.get(URL)
    assert r.content == BODY
    assert rec.calls == [(BODY, None)]


def test_close_twice_calls_callback_once() -> None:
    """Sync close is idempotent: inner closed and callback called once."""
    rec = Recorder()
    inner = OneShotSync(CHUNKS)
    stream = TeeStream(inner, rec)
    assert list(stream) == CHUNKS
    stream.close()
    stream.close()
    assert rec.calls == [(BODY, None)]
    assert inner.closed == 1


# --- decode_json --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("identity", lambda b: b),
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
    ],
)
def test_decode_json_decodes_content_encodings(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    """decode_json undoes identity, gzip and deflate like the client does."""
    headers = httpx.Headers({**JSON_HEADERS, "content-encoding": encoding})
    assert decode_json(200, headers, compress(b'{"pnl": -0.30}')) == {"pnl": Decimal("-0.30")}


def test_decode_json_accepts_plus_json_media_types() -> None:
    """decode_json accepts application/problem+json with parameters."""
    headers = httpx.Headers({"content-type": "application/problem+json; charset=utf-8"})
    assert decode_json(402, headers, b'{"amount": 1.10}') == {"amount": Decimal("1.10")}


@pytest.mark.parametrize(
    ("headers", "raw"),
    [
        ({"content-type": "text/html"}, b"<html></html>"),
        ({"content-type": "text/event-stream"}, b'data: {"pnl": 1}\n\n'),
        ({}, b'{"pnl": 1}'),
        (JSON_HEADERS, b'{"pnl": 1'),
        (JSON_HEADERS, b'{"pnl": NaN}'),
        (JSON_HEADERS, b"\xff\xfe\x00garbage"),
        ({**JSON_HEADERS, "content-encoding": "gzip"}, gzip.compress(BODY)[:20]),
        ({**JSON_HEADERS, "content-encoding": "gzip"}, b"not gzip at all"),
    ],
    ids=[
        "html",
        "event-stream",
        "no-content-type",
        "invalid-json",
        "nan",
        "bad-bytes",
        "truncated-gzip",
        "bad-gzip",
    ],
)
def test_decode_json_rejects_with_value_error(headers: dict[str, str], raw: bytes) -> None:
    """decode_json raises ValueError for non-JSON types and bodies that do not decode or parse."""
    with pytest.raises(ValueError):  # noqa: PT011 - the contract is "a ValueError"
        decode_json(200, httpx.Headers(headers), raw)
