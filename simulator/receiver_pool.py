"""
``hubsim receive --workers K``: K receiver processes on one port
(SO_REUSEPORT, so the kernel spreads connections over them), each with its
own event loop and core, and one ``/stats`` for all of them.

The parent only coordinates. A ``GET /stats`` that reaches worker *w* asks
the parent, which collects every worker's counts and id sets over pipes,
merges them exactly (ids as a union, so an event that reached two workers is
a duplicate) and answers *w*; ``DELETE /stats`` clears every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any, Final

from pyroaring import BitMap64

from . import aio
from .errors import SimulatorError, UsageError
from .receiver import (
    ReceiverConfig,
    ReceiverServer,
    ReceiverStats,
    cannot_listen,
    shown_host,
)
from .receiver_body import arrival

#: Workers at most: a few per core is already more than helps.
MAX_WORKERS: Final = 64
_READY_S: Final = 30.0
_ANSWER_S: Final = 10.0


class _PipeView:
    """A worker's /stats, answered by the parent over the pipe."""

    def __init__(self, conn: Connection, stats: ReceiverStats) -> None:
        self._conn = conn
        self._stats = stats
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.stop = asyncio.Event()

    def on_message(self) -> None:
        """Called by the loop when the parent wrote: answer or resolve."""
        # The loop may have made the pipe non-blocking for its reader; a
        # snapshot (id sets included) is larger than the pipe's buffer.
        os.set_blocking(self._conn.fileno(), True)
        while True:
            try:
                if not self._conn.poll():
                    return
                kind, ident, payload = self._conn.recv()
            except (EOFError, OSError):
                # The parent is gone (killed): stop too, not spin on the pipe.
                self.stop.set()
                return
            if kind == "snapshot":
                self._conn.send(("snapshot", ident, self._stats.to_wire()))
            elif kind == "clear":
                self._stats.clear()
                self._conn.send(("cleared", ident, None))
            elif kind == "stop":
                self.stop.set()
            else:
                future = self._waiting.pop(ident, None)
                if future is not None and not future.done():
                    future.set_result(payload)

    async def _ask(self, kind: str, payload: Any = None) -> Any:
        ident = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        os.set_blocking(self._conn.fileno(), True)
        self._conn.send((kind, ident, payload))
        return await asyncio.wait_for(future, 10.0)

    async def merged(self) -> dict[str, Any]:
        doc: dict[str, Any] = await self._ask("merge")
        return doc

    async def clear(self) -> None:
        await self._ask("reset")

    async def attempt_of(self, identity: int) -> int:
        attempt: int = await self._ask("attempt", identity)
        return attempt


def _worker(config: ReceiverConfig, host: str, port: int, conn: Connection) -> None:
    """One worker process: the receiver on the shared port until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    aio.run(_work(config, host, port, conn))


async def _work(config: ReceiverConfig, host: str, port: int, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    stats = ReceiverStats()
    view = _PipeView(conn, stats)
    server = ReceiverServer(config, host, port, view=view)
    server.stats = stats
    try:
        await server.start()
    except OSError as exc:
        conn.send(("error", 0, (exc.strerror or str(exc)).lower()))
        return
    loop.add_reader(conn.fileno(), view.on_message)
    conn.send(("ready", 0, None))
    try:
        await view.stop.wait()
    finally:
        loop.remove_reader(conn.fileno())
        await server.close()
        conn.close()


class WorkerLost(SimulatorError):
    """A receiver process died; the others were stopped (exit 1)."""

    exit_code = 1


class _Parent:
    """Starts the workers, answers their /stats questions, stops them."""

    def __init__(self, conns: list[Connection]) -> None:
        self.conns = conns
        self.stopping = False
        self.lost = False
        #: Every worker's workflow-record arrivals, for their attemptNumbers.
        self.arrived = BitMap64()
        self.repeats: dict[int, int] = {}

    def _collect(self, kind: str) -> list[Any]:
        """Send ``kind`` to every worker and gather each one's answer."""
        for conn in self.conns:
            conn.send((kind, -1, None))
        answers: dict[int, Any] = {}
        queued: list[tuple[Connection, tuple[str, int, Any]]] = []
        deadline = time.monotonic() + _ANSWER_S
        while len(answers) < len(self.conns):
            if time.monotonic() > deadline:
                raise UsageError("--workers: a receiver process stopped answering")
            for ready in wait(self.conns, timeout=1.0):
                assert isinstance(ready, Connection)
                message = ready.recv()
                if message[1] == -1:
                    answers[self.conns.index(ready)] = message[2]
                else:
                    queued.append((ready, message))
        for conn, message in queued:
            self._handle(conn, message)
        return [answers[i] for i in range(len(self.conns))]

    def merged(self) -> dict[str, Any]:
        total = ReceiverStats()
        for wire in self._collect("snapshot"):
            total.merge_wire(wire)
        return total.to_json()

    def _handle(self, conn: Connection, message: tuple[str, int, Any]) -> None:
        kind, ident, payload = message
        if kind == "merge":
            conn.send(("merged", ident, self.merged()))
        elif kind == "reset":
            self._collect("clear")
            self.arrived, self.repeats = BitMap64(), {}
            conn.send(("done", ident, None))
        elif kind == "attempt":
            attempt = arrival(self.arrived, self.repeats, payload)
            conn.send(("attempt", ident, attempt))

    def serve(self) -> None:
        while not self.stopping:
            for conn in wait(self.conns, timeout=0.5):
                assert isinstance(conn, Connection)
                try:
                    message = conn.recv()
                    self._handle(conn, message)
                except (EOFError, OSError):
                    self.stopping = self.lost = True  # a worker died: stop all
                    break


def serve_pool(
    config: ReceiverConfig,
    host: str,
    port: int,
    workers: int,
    on_listening: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """
    Run ``workers`` receivers on one port until Ctrl-C or SIGTERM; return
    their merged /stats at the stop (None if the workers went first).
    """
    if not 2 <= workers <= MAX_WORKERS:
        raise UsageError(f"--workers must be 1 to {MAX_WORKERS}")
    if config.save_path:
        # Several processes appending to one file could interleave lines.
        raise UsageError("--save needs one worker: drop --workers or --save")
    # Bound but not listening: it reserves the port (and picks one for 0)
    # without taking connections meant for the workers.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        holder.bind((host, port))
    except OSError as exc:
        holder.close()
        raise cannot_listen(host, port, exc.strerror or str(exc)) from None
    port = holder.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    procs, conns = [], []
    try:
        for _ in range(workers):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(config, host, port, theirs))
            proc.start()
            # Only the worker may hold its end: then a worker that dies is an
            # EOF here, not a read that waits forever.
            theirs.close()
            procs.append(proc)
            conns.append(mine)
        for conn in conns:
            if not conn.poll(_READY_S):
                raise UsageError("--workers: a receiver process did not start")
            kind, _, detail = conn.recv()
            if kind == "error":
                raise cannot_listen(host, port, detail)
        holder.close()
        parent = _Parent(conns)

        def stop(*_: Any) -> None:
            parent.stopping = True

        # Before saying where it listens: a Ctrl-C right after must stop cleanly.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stop)
        if on_listening is not None:
            on_listening(f"http://{shown_host(host)}:{port}/")
        parent.serve()
        if parent.lost:
            raise WorkerLost("a receiver worker process died; stopped the others")
        try:
            return parent.merged()
        except (UsageError, EOFError, OSError):
            return None  # the workers were signalled too (a group SIGTERM)
    finally:
        holder.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.send(("stop", 0, None))
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
