"""
A minimal HTTP/1.1 sink on 127.0.0.1: reads each request, answers 204. Written on
raw asyncio protocols so that it costs far less than any client it measures.
Prints ``port N`` on its first line. Stops after ``--seconds`` or on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio

_RESPONSE = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


class Sink(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.need = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need < 0:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                i = head.find(b"content-length:")
                length = int(head[i + 15 : head.find(b"\r\n", i)]) if i >= 0 else 0
                self.buf = self.buf[end + 4 :]
                self.need = length
            if len(self.buf) < self.need:
                return
            self.buf = self.buf[self.need :]
            self.need = -1
            self.transport.write(_RESPONSE)  # type: ignore[attr-defined]


async def main(port: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.sleep(seconds)
    server.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seconds", type=float, default=600)
    a = p.parse_args()
    asyncio.run(main(a.port, a.seconds))
