"""
A null HTTP/1.1 sink on 127.0.0.1: reads each request and answers 204, on raw
asyncio protocols, so that it costs far less than any client it measures.
``python -m simulator.null_sink`` prints ``port N`` on its first line and
stops after ``--seconds`` or on SIGTERM; :func:`running` starts one in its own
process for as long as a block runs (``hubsim bench --calibrate``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Final

_RESPONSE: Final = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
#: A request head longer than this is not one hubsim sent: close.
_MAX_HEAD: Final = 64 * 1024


class Sink(asyncio.Protocol):
    """Answers every complete request with 204, pipelined or not."""

    def __init__(self) -> None:
        self.buf = b""
        self.need = -1
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need < 0:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > _MAX_HEAD and self.transport is not None:
                        self.transport.close()
                    return
                head = self.buf[:end].lower()
                i = head.find(b"content-length:")
                try:
                    length = int(head[i + 15 : head.find(b"\r\n", i)]) if i >= 0 else 0
                except ValueError:
                    length = 0
                self.buf = self.buf[end + 4 :]
                self.need = max(0, length)
            if len(self.buf) < self.need:
                return
            self.buf = self.buf[self.need :]
            self.need = -1
            if self.transport is not None:
                self.transport.write(_RESPONSE)


async def serve(port: int, seconds: float) -> None:
    """Serve on 127.0.0.1:``port`` (0: any free one) for ``seconds``."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.sleep(seconds)
    server.close()


@contextlib.contextmanager
def running(seconds: float = 600.0) -> Iterator[str]:
    """A sink in its own process (its own core) for the block; yields its URL."""
    sink = subprocess.Popen(
        [sys.executable, "-m", "simulator.null_sink", "--seconds", str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline().split()[1])
        yield f"http://127.0.0.1:{port}/null"
    finally:
        sink.terminate()
        sink.wait(5)
        if sink.stdout is not None:
            sink.stdout.close()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m simulator.null_sink")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seconds", type=float, default=600)
    a = p.parse_args()
    asyncio.run(serve(a.port, min(max(a.seconds, 0.1), 86_400.0)))


if __name__ == "__main__":
    main()
