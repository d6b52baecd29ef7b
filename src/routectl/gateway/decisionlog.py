"""The decision log: one JSON object per line for every request the gateway answers.

``routectl simulate`` reads these files as recorded traffic with no mapping,
so the field names are an interface::

    ts              ISO 8601 UTC time the request arrived, e.g. "2025-01-31T12:00:00.123456Z"
    request_id      x-request-id (generated when the client sent none)
    consumer        authenticated consumer name, or null
    intent          resolved intent (given, detected or default), or null
    classification  classification the request declared, or null
    language        language the request declared, or null
    route           matching route, or null when unroutable
    model           model that answered, or null
    arm             arm drawn ("primary", a weighted target, "candidate"), or null
    experiment      live experiment whose candidate arm was drawn, or null; kept when a
                    fallback answered for a failing candidate (arm "candidate", model the fallback)
    attempts        [{model, provider, status, error, latency_ms}] in the order tried;
                    skipped models (open circuit, unusable) appear with status null; a
                    model over its rpm/tpm with status 429 and the limit as error
    input_tokens    upstream usage.prompt_tokens, else the gateway's estimate (chars / 4)
    output_tokens   upstream usage.completion_tokens, or null when the upstream gave none
    cost            USD from the answering model's list prices (0 when nothing answered)
    latency_ms      gateway time from request to the end of the answer
    status          HTTP status returned to the client
    shadows         models a shadow copy was sent to (dropped copies are only metered)
    session         the request's session key, or null
    metadata        the request's metadata under the keys some route matches on ({} if none)
    max_tokens      max_tokens (or max_completion_tokens) as the client asked, or null
    requires        capabilities the request needs by its body (vision, tools, json)
    requested_model the model the client pinned (a name or alias), or null for auto

A 5xx the gateway produces outside the chat endpoint (the admin API with its store down,
an internal error) is written too, with the fields above (most null) plus ``path`` (the
endpoint group) and ``error`` (see routectl.gateway.boundary).

Records are buffered and written at least every second and at shutdown; the
write happens off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

FIELDS = (
    "ts",
    "request_id",
    "consumer",
    "intent",
    "classification",
    "language",
    "route",
    "model",
    "arm",
    "experiment",
    "attempts",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost",
    "latency_ms",
    "status",
    "shadows",
    "session",
    "metadata",
    "max_tokens",
    "requires",
    "requested_model",
)


_second_prefix: tuple[int, str] = (-1, "")


def utc_timestamp(epoch_seconds: float) -> str:
    """ISO 8601 UTC with microseconds; the date part is formatted once per second."""
    global _second_prefix
    second = int(epoch_seconds)
    if _second_prefix[0] != second:
        _second_prefix = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second_prefix[1]}.{int((epoch_seconds - second) * 1_000_000):06d}Z"


class DecisionLog:
    """Appends records to ``path``; with no path it keeps nothing."""

    def __init__(self, path: Path | None, flush_interval_s: float = 0.5) -> None:
        self.path = path
        self.flush_interval_s = flush_interval_s
        self._buffer: list[bytes] = []
        self._file: BinaryIO | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()  # a cancelled flush may still be writing

    def open(self) -> None:
        """Open the file now, so an unwritable path fails at startup and not later."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")

    def write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._buffer.append(orjson.dumps(record))

    def start(self) -> None:
        if self._file is not None:
            self._stopping = asyncio.Event()
            self._task = asyncio.create_task(self._flush_forever())

    async def _flush_forever(self) -> None:
        # Stopped by an event, never cancelled: a cancel that lands before the worker
        # thread has picked up a batch would drop lines already taken from the buffer.
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.flush_interval_s)
            if self._buffer:
                lines, self._buffer = self._buffer, []
                await asyncio.to_thread(self._write_lines, lines)

    def _write_lines(self, lines: list[bytes]) -> None:
        with self._lock:
            if self._file is not None:
                self._file.write(b"\n".join(lines) + b"\n")
                self._file.flush()

    async def close(self) -> None:
        if self._task is not None:
            self._stopping.set()
            await self._task  # finishes the batch in flight, then returns
        if self._file is not None:
            if self._buffer:
                self._write_lines(self._buffer)
                self._buffer = []
            with self._lock:
                self._file.close()
                self._file = None
