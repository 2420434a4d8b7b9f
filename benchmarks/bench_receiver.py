"""
The built-in receiver against a bare aiohttp sink, both under wrk, in one run.

wrk (one thread, 10 connections) posts the same freshly signed 100-event
batch to ``hubsim receive --secret`` and to an aiohttp web.Application handler
that reads the body and answers 204, on the same event loop. Rounds
alternate; the figure is the median of the rounds' own ratios, since this
shared machine's speed drifts by a fifth between runs seconds apart. The
receiver must verify every request and count every event: its /stats are
checked against what wrk sent, so a fast figure cannot come from skipped work.

hubsim's receiver runs on aiohttp's low-level server (no router); the same
bare handler on that server is measured too, so the share of the ratio that
comes from skipping the Application is in plain view.

Needs wrk (``apt install wrk``); without it the section says so and is skipped.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from statistics import median

from simulator.events import EventConfig, EventSource
from simulator.signing import ClientSecret, Signer

SECRET = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
MIX = ("contact", "company", "deal", "ticket", "line_item", "conversation")
SECONDS = 3
ROUNDS = 5

_BARE = """
import sys
from aiohttp import web
from simulator import aio
async def hook(request):
    await request.read()
    return web.Response(status=204)
factory = aio.loop_factory()
loop = factory() if factory else None
app = web.Application(client_max_size=4 * 1024 * 1024)
app.router.add_post("/hook", hook)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, loop=loop)
"""

#: Serves ``hook`` on aiohttp's low-level server (no Application, no router).
_SERVE_LOW_LEVEL = """
async def main():
    runner = web.ServerRunner(web.Server(hook, access_log=None))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    await asyncio.Event().wait()
aio.run(main())
"""

_LOW_LEVEL = (
    """
import asyncio, sys
from aiohttp import web
from simulator import aio
async def hook(request):
    await request.read()
    return web.Response(status=204)
"""
    + _SERVE_LOW_LEVEL
)

#: The floor: what any receiver that checks both signatures and counts the
#: events must do (v1, v3, one typed JSON decode of the ids), on the same
#: low-level server, and nothing else. hubsim's receiver over it is the cost
#: of its own routing and counting; it over the bare sink caps what any
#: checking receiver can reach here.
_CHECKS = (
    """
import asyncio, base64, hashlib, hmac, sys
import msgspec
from aiohttp import web
from simulator import aio
KEY = sys.argv[2].encode()
V1 = hashlib.sha256(KEY)
V3 = hmac.new(KEY, digestmod="sha256")
BATCH = msgspec.json.Decoder(list[msgspec.defstruct("E", [("eventId", int)])])
async def hook(request):
    body = await request.read()
    h, m, ts = V1.copy(), V3.copy(), request.headers["X-HubSpot-Request-Timestamp"]
    h.update(body)
    m.update(b"POSThttp://" + request.host.encode() + request.raw_path.encode())
    m.update(body)
    m.update(ts.encode())
    v3 = base64.b64encode(m.digest()).decode()
    ok = hmac.compare_digest(h.hexdigest(), request.headers["X-HubSpot-Signature"])
    ok &= hmac.compare_digest(v3, request.headers["X-HubSpot-Signature-v3"])
    ids = [e.eventId for e in BATCH.decode(body)]
    return web.Response(status=204 if ok and ids else 401)
"""
    + _SERVE_LOW_LEVEL
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1),
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


@contextlib.contextmanager
def _server(argv: list[str], port: int) -> Iterator[None]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_up(port)
        yield
    finally:
        proc.terminate()
        proc.wait(10)


def _lua(url: str, path: Path) -> Path:
    """A wrk script posting one batch signed now (v1 and v3, as HubSpot does)."""
    src = EventSource(EventConfig(types=MIX, seed=5, start_ms=int(time.time() * 1000)))
    body = b"[" + src.render(100).body + b"]"
    headers = Signer(ClientSecret(SECRET), url).headers(body, int(time.time() * 1000))
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body.decode()}]==]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lines.append('wrk.headers["Content-Type"] = "application/json"')
    path.write_text("\n".join(lines) + "\n")
    return path


def _wrk(url: str, script: Path) -> tuple[float, int]:
    """(requests/s, requests) of one wrk run."""
    out = subprocess.run(
        ["wrk", "-t1", "-c10", f"-d{SECONDS}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=SECONDS * 5 + 30,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    if "Non-2xx" in out:
        # A refused request is no figure: a sink that fails the checks
        # would look fast.
        raise RuntimeError(f"requests refused:\n{out}")
    return float(rps.group(1)), int(total.group(1))


def _stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as r:
        doc: dict[str, int] = json.load(r)
    return doc


def measure(workers: int = 1, low_level: bool = True) -> dict[str, float] | None:
    """
    Medians of the rounds: requests/s of the receiver and of the bare sinks,
    and the receiver's ratio to each (paired within a round); None without wrk.
    """
    if shutil.which("wrk") is None:
        return None
    hub_port = _free_port()
    hubsim = [sys.executable, "-m", "simulator", "receive", "--port", str(hub_port)]
    hubsim += ["--secret", SECRET, "--workers", str(workers)]
    sinks = {"bare": _BARE}
    if low_level:
        sinks |= {"low_level": _LOW_LEVEL, "checks": _CHECKS}
    ports = {name: _free_port() for name in sinks}
    rps: dict[str, list[float]] = {"receiver": [], **{name: [] for name in sinks}}
    sent = 0
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        stack.enter_context(_server(hubsim, hub_port))
        for name, code in sinks.items():
            stack.enter_context(
                _server(
                    [sys.executable, "-c", code, str(ports[name]), SECRET], ports[name]
                )
            )
        urls = {"receiver": f"http://127.0.0.1:{hub_port}/hook"}
        urls |= {name: f"http://127.0.0.1:{port}/hook" for name, port in ports.items()}
        scripts = {name: _lua(url, tmp / f"{name}.lua") for name, url in urls.items()}
        for _ in range(ROUNDS):
            for name, url in urls.items():
                figure, n = _wrk(url, scripts[name])
                rps[name].append(figure)
                if name == "receiver":
                    sent += n
        stats = _stats(hub_port)
    # wrk counts the answers it got; a request cut at its end may have reached
    # the receiver unanswered, so accepted may exceed it by up to a connection
    # each, never fall short.
    accepted, events = stats["accepted_requests"], stats["events"]
    if not (sent <= accepted <= sent + 10 * ROUNDS) or events != 100 * accepted:
        raise RuntimeError(f"receiver miscounted: wrk {sent:,}, /stats {stats}")
    if stats.get("signature_failures", 0) or stats.get("bad_requests", 0):
        raise RuntimeError(f"receiver refused requests: {stats}")
    out: dict[str, float] = {name: median(v) for name, v in rps.items()}
    for name in sinks:
        pairs = zip(rps["receiver"], rps[name], strict=True)
        out[f"ratio_{name}"] = median(r / b for r, b in pairs)
    if "checks" in sinks:
        pairs = zip(rps["checks"], rps["bare"], strict=True)
        out["checks_over_bare"] = median(c / b for c, b in pairs)
    out |= {"accepted": accepted, "events": events}
    return out


if __name__ == "__main__":
    print(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
