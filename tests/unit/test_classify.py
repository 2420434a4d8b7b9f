"""Wire failures become error kinds, never exceptions past the engine."""

from __future__ import annotations

import errno

import aiohttp
import pytest

from simulator.delivery import classify


class TestClassify:
    @pytest.mark.parametrize(
        ("exc", "kind"),
        [
            (TimeoutError(), "timeout"),
            (aiohttp.ServerTimeoutError(), "timeout"),
            (aiohttp.ServerDisconnectedError(), "reset"),
            (aiohttp.ClientPayloadError(), "reset"),
            (ConnectionResetError(), "reset"),
            (aiohttp.ClientOSError(errno.ECONNRESET, "reset"), "reset"),
            (aiohttp.ClientOSError(errno.EHOSTUNREACH, "unreachable"), "connect_error"),
            (aiohttp.ClientError(), "client_error"),
        ],
    )
    def test_kinds(self, exc, kind):
        """Each exception maps to its documented error kind."""

        assert kind == classify(exc)
