"""
The library entry point: compose source → batcher → signer → engine → stats and
ledger for one ``send`` run. The CLI is a thin layer over :class:`SendRun`.

::

    options = SendOptions("http://127.0.0.1:8080/hook", ClientSecret("..."))
    result = await SendRun(options).execute()
    print(result.ledger.delivered)
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .batching import Batch
from .catalog import MAX_BATCH_SIZE
from .clock import Clock, SystemClock
from .delivery import Attempt, DeliveryEngine, DeliveryOptions
from .errors import TargetError, UsageError
from .events import EventConfig, EventSource
from .ledger import BatchRecord, Ledger, LedgerFile, Sink
from .signing import ClientSecret, Signer, SigningOptions
from .stats import Stats, Summary
from .workflow import WorkflowSource

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def check_target_url(url: str, allow_remote: bool = False) -> str:
    """
    ``url`` if it is an http(s) URL hubsim may send to, else TargetError.

    Only loopback hosts are allowed unless ``allow_remote``: a load tester should
    not flood a production endpoint because of a typo.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"bad target URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(
            f"bad target URL {url!r}: expected http://host[:port]/path or https://…"
        )
    if port == 0:
        raise TargetError(f"bad target URL {url!r}: port 0")
    if not allow_remote and not is_loopback(parts.hostname):
        raise TargetError(
            f"{parts.hostname} is not a loopback address; pass --allow-remote to "
            "send load to another host"
        )
    return url


def is_loopback(host: str) -> bool:
    """
    True for 127.0.0.0/8, ::1 and localhost names.
    """
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def preflight(url: str, timeout_s: float = 3.0) -> None:
    """
    Open (and close) one TCP connection to the target, or raise TargetError.

    Without it, an unreachable target under the default profile would only show
    after HubSpot's 24-hour retry schedule.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout_s
        )
    except TimeoutError:
        raise TargetError(
            f"cannot reach {host}:{port}: no answer in {timeout_s:g} s"
        ) from None
    except OSError as exc:
        # asyncio words a refusal as "connect call failed (...)"; errno says it plainly.
        reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
        raise TargetError(f"cannot reach {host}:{port}: {reason.lower()}") from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


@dataclass(frozen=True, slots=True)
class SendOptions:
    """
    Everything one ``send`` run needs. Flags map onto these fields one to one.
    """

    target_url: str
    secret: ClientSecret
    events: int = 1000
    source: EventConfig = field(default_factory=EventConfig)
    batch_size: int = MAX_BATCH_SIZE
    delivery: DeliveryOptions = field(default_factory=DeliveryOptions)
    signing: SigningOptions = field(default_factory=SigningOptions)
    allow_remote: bool = False
    preflight: bool = True
    ledger_path: str | None = None
    workflow: bool = False

    def __post_init__(self) -> None:
        if self.events < 1:
            raise UsageError("--events must be at least 1")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise UsageError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}")


@dataclass(frozen=True, slots=True)
class RunResult:
    """
    The outcome of a run: the measured figures and the ledger's accounting.
    """

    summary: Summary
    ledger: Ledger
    interrupted: bool
    app_id: int
    portal_ids: tuple[int, ...]
    target_url: str

    @property
    def all_delivered(self) -> bool:
        """Every generated event was delivered."""
        return self.ledger.generated == self.ledger.delivered and self.ledger.balanced


class _BatchStream:
    """
    Lazily renders batches from the event source, counting them into the ledger.
    """

    def __init__(
        self,
        source: EventSource | WorkflowSource,
        batch_size: int,
        total: int,
        ledger: Ledger,
    ):
        self._source = source
        self._batch_size = batch_size
        self._remaining = total
        self._ledger = ledger
        self._seq = 0

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        if self._remaining <= 0:
            raise StopIteration
        block = self._source.render(min(self._batch_size, self._remaining))
        self._remaining -= len(block)
        self._seq += 1
        batch = Batch.from_block(self._seq, self._source.app_id, block)
        self._ledger.generated_batch(batch)
        return batch


class SendRun:
    """
    One run of ``hubsim send``: build, deliver, account. Stoppable from outside.
    """

    def __init__(
        self,
        options: SendOptions,
        clock: Clock | None = None,
        sink: Sink | None = None,
    ) -> None:
        check_target_url(options.target_url, options.allow_remote)
        if options.signing.public_url:
            check_target_url(options.signing.public_url, allow_remote=True)
        self.options = options
        self.clock = clock or SystemClock()
        self.source: EventSource | WorkflowSource
        if options.workflow:
            self.source = WorkflowSource(options.source)
        else:
            self.source = EventSource(options.source)
        self.source.prepare(options.batch_size)
        self.stats = Stats()
        self._file = LedgerFile(options.ledger_path) if options.ledger_path else None
        self.ledger = Ledger(self._sink(sink))
        self.engine = DeliveryEngine(
            options.target_url,
            Signer(options.secret, options.target_url, options.signing),
            options.delivery,
            self.clock,
        )
        self._stopped = False
        self._checked = not options.preflight
        self.started_at: float | None = None

    async def check_target(self) -> None:
        """
        Preflight once: TargetError now rather than a day of retries later.
        """
        if not self._checked:
            delivery = self.options.delivery
            await preflight(self.options.target_url, delivery.connect_timeout_s or 3.0)
            self._checked = True

    def _sink(self, sink: Sink | None) -> Sink | None:
        file = self._file
        if file is None:
            return sink

        def both(record: BatchRecord) -> None:
            file.settle(record)
            if sink is not None:
                sink(record)

        return both

    def stop(self) -> None:
        """
        Stop generating; in-flight requests finish; the rest becomes pending.
        """
        self._stopped = True
        self.engine.stop()

    async def execute(
        self, on_attempt: Callable[[Attempt], None] | None = None
    ) -> RunResult:
        """
        Deliver ``options.events`` events and return the result.
        """
        opts = self.options
        await self.check_target()
        size = 1 if opts.workflow else opts.batch_size
        stream = _BatchStream(self.source, size, opts.events, self.ledger)
        stats, ledger = self.stats, self.ledger

        file = self._file

        def record(attempt: Attempt) -> None:
            stats.add(attempt)
            if file is not None:
                file.attempt(attempt)
            ledger.record_attempt(attempt)
            if on_attempt is not None:
                on_attempt(attempt)

        t0 = time.perf_counter()
        self.started_at = t0
        try:
            await self.engine.run(stream, record)
        finally:
            for batch, attempts in self.engine.unfinished:
                ledger.pending(batch, attempts)
            if file is not None:
                file.close()
        elapsed = time.perf_counter() - t0
        return RunResult(
            summary=stats.summary(elapsed),
            ledger=ledger,
            interrupted=self._stopped,
            app_id=self.source.app_id,
            portal_ids=self.source.portal_ids,
            target_url=opts.target_url,
        )
