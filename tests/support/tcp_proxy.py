"""A TCP proxy on 127.0.0.1 that a test can cut, take down and bring back: a broker outage,
a database partition.

Put in front of the shared RabbitMQ (127.0.0.1:5672), it lets one test's processes lose
their broker while every other test keeps it: ``down()`` aborts every open connection and
refuses each new one (accepted, then reset at once, as a node that is not listening would
answer), counting the attempts; ``up()`` forwards again, on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

_CHUNK = 65536
T = TypeVar("T")


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target_host:target_port`` until taken ``down()``."""

    def __init__(
        self, target_host: str = "", target_port: int = 0, *, unix_path: Path | None = None
    ) -> None:
        """Forward to ``target_host:target_port``, or to the unix socket ``unix_path`` (an
        embedded Postgres listens on one only)."""
        self._target = (target_host, target_port)
        self._unix_path = unix_path
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._down = False
        self.port = 0
        #: Connections refused while down (the clients' reconnect attempts).
        self.refused = 0

    def start(self) -> int:
        """Listen on a free port; returns it."""
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def cut(self) -> int:
        """Abort every open connection (a partition); new ones are still forwarded.
        Returns how many were open."""
        return self._call(self._abort_all())

    def down(self) -> int:
        """Abort every open connection and refuse new ones; returns how many were open."""

        async def go_down() -> int:
            self._down = True
            return await self._abort_all()

        return self._call(go_down())

    def outage(self, seconds: float) -> int:
        """:meth:`down` now and :meth:`up` by itself after ``seconds``."""
        cut = self.down()
        self._loop.call_soon_threadsafe(self._loop.call_later, seconds, self._restore)
        return cut

    async def _abort_all(self) -> int:
        writers = list(self._writers)
        for writer in writers:
            writer.transport.abort()
        return len(writers) // 2

    def _restore(self) -> None:
        self._down = False

    def up(self) -> None:
        """Forward new connections again."""

        async def restore() -> None:
            self._restore()

        self._call(restore())

    def close(self) -> None:
        server = self._server
        if server is not None:

            async def shut() -> None:  # on the proxy's loop: asyncio.Server is not thread-safe
                server.close()
                self._down = True
                await self._abort_all()

            self._call(shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            if self._unix_path is not None:
                up_reader, up_writer = await asyncio.open_unix_connection(str(self._unix_path))
            else:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:  # nothing listens (a restart): refuse, as a closed port would
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}
            for w in (writer, up_writer):
                w.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
