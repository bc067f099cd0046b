"""Tee streams: observe every response body without changing what the client sees.

``tee(response, on_close)`` swaps ``response.stream`` for a stream that yields the raw chunks
unchanged, keeps a bounded copy and, when the client closes the response, calls
``on_close(body, error)`` once: ``body`` is the whole raw (still content-encoded) body or None,
``error`` the exception the inner stream raised mid-body or None. The client drives the tee, so
it never reads ahead; a response that is never closed never reports.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Generic, TypeVar

import httpx

__all__ = ["DEFAULT_CAP", "AsyncTeeStream", "OnClose", "TeeStream", "decode_json", "tee"]

DEFAULT_CAP = 1 << 20
"""Bodies larger than this many raw bytes are passed through but not kept (body is None)."""

OnClose = Callable[[bytes | None, BaseException | None], object]
"""``on_close(body, error)``; may return an awaitable, which the async tee awaits."""
OnCallbackError = Callable[[Exception], object]
_S = TypeVar("_S", bound=httpx.SyncByteStream | httpx.AsyncByteStream)


class _Tee(Generic[_S]):
    """Bookkeeping shared by the sync and async tees; the I/O is in the subclasses."""

    callback_error: Exception | None
    """The last exception raised by ``on_close``; kept for inspection, never re-raised."""

    def __init__(
        self,
        stream: _S,
        on_close: OnClose,
        *,
        cap: int = DEFAULT_CAP,
        on_callback_error: OnCallbackError | None = None,
    ) -> None:
        if cap < 0:
            raise ValueError(f"cap must be >= 0, got {cap}")
        self._stream: _S = stream
        self._on_close = on_close
        self._cap = cap
        self._on_callback_error = on_callback_error
        self._chunks: list[bytes] = []
        self._size = 0
        self._overflowed = False
        self._complete = False
        self._error: BaseException | None = None
        self._closed = False
        self.callback_error = None

    def _begin(self) -> None:
        # A re-iterable inner stream (httpx.ByteStream) starts over, so the copy must too.
        self._chunks, self._size = [], 0
        self._overflowed = self._complete = False
        self._error = None

    def _keep(self, chunk: bytes) -> None:
        if self._overflowed:
            return
        self._size += len(chunk)
        if self._size > self._cap:
            self._overflowed = True
            self._chunks = []  # free the partial copy: it will never be reported
        else:
            self._chunks.append(chunk)

    def _call_on_close(self) -> object:
        body = b"".join(self._chunks) if self._complete and not self._overflowed else None
        self._chunks = []
        try:
            return self._on_close(body, self._error)
        except Exception as exc:
            self._callback_failed(exc)
            return None

    def _callback_failed(self, exc: Exception) -> None:
        self.callback_error = exc
        if self._on_callback_error is not None:
            with contextlib.suppress(Exception):  # an observer must never break the client
                self._on_callback_error(exc)


class TeeStream(_Tee[httpx.SyncByteStream], httpx.SyncByteStream):
    """A sync stream that passes ``stream`` through and reports its body on ``close()``."""

    def __iter__(self) -> Iterator[bytes]:
        self._begin()
        chunks = iter(self._stream)
        while True:
            # Only the inner stream's errors are recorded, not what the consumer throws in.
            try:
                chunk = next(chunks)
            except StopIteration:
                self._complete = True
                return
            except BaseException as exc:
                self._error = exc
                raise
            self._keep(chunk)
            yield chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._stream.close()
        finally:
            result = self._call_on_close()
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # it can never be awaited here; closing it avoids a warning
                self._callback_failed(TypeError("on_close returned an awaitable on a sync stream"))


class AsyncTeeStream(_Tee[httpx.AsyncByteStream], httpx.AsyncByteStream):
    """An async stream that passes ``stream`` through and reports its body on ``aclose()``."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._begin()
        chunks = aiter(self._stream)
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                self._complete = True
                return
            except BaseException as exc:
                self._error = exc
                raise
            self._keep(chunk)
            yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._stream.aclose()
        finally:
            result = self._call_on_close()
            if inspect.isawaitable(result):
                try:
                    await result
                except Exception as exc:
                    self._callback_failed(exc)


class _DualTeeStream(TeeStream, AsyncTeeStream):
    """For a stream that is both sync and async (``httpx.ByteStream``): either client reads it."""


def tee(
    response: httpx.Response,
    on_close: OnClose,
    cap: int = DEFAULT_CAP,
    *,
    on_callback_error: OnCallbackError | None = None,
) -> None:
    """Replace ``response.stream`` in place with the tee that matches its type."""
    stream = response.stream
    new: httpx.SyncByteStream | httpx.AsyncByteStream
    if isinstance(stream, httpx.SyncByteStream) and isinstance(stream, httpx.AsyncByteStream):
        new = _DualTeeStream(stream, on_close, cap=cap, on_callback_error=on_callback_error)
    elif isinstance(stream, httpx.AsyncByteStream):
        new = AsyncTeeStream(stream, on_close, cap=cap, on_callback_error=on_callback_error)
    else:
        new = TeeStream(stream, on_close, cap=cap, on_callback_error=on_callback_error)
    response.stream = new


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(status: int, headers: httpx.Headers, raw: bytes) -> object:
    """Decode ``raw`` as the client would and parse it as JSON, floats as ``Decimal``.

    Raises ValueError when the media type is not ``application/json`` or ``*+json`` (so
    ``text/event-stream`` too), when the Content-Encoding does not decode, or when the JSON is
    invalid (including NaN and Infinity, which are not JSON).
    """
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ValueError(f"not a JSON media type: {media or '(none)'}")
    encodings = headers.get_list("content-encoding", split_commas=True)
    content = raw
    if any(e.strip().lower() not in ("", "identity") for e in encodings):
        try:  # httpx's own decoders, so this matches what the client's .content saw
            content = httpx.Response(status, headers=headers, content=raw).content
        except httpx.DecodingError as exc:
            raise ValueError(f"body does not decode: {exc}") from exc
    try:
        return json.loads(content, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
