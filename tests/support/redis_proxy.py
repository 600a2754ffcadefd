"""A TCP proxy in front of a real redis-server that fails one chosen command, to fault every
step of a request: the faults suite runs a solve or a re-plan once to list the commands it
sends, then once per command with the fault on that one.

Faults (``arm(k, fault)``: the ``k``-th command counted from now, 0-based):

- ``"drop"``: the command never reaches Redis; the client's connection is closed (the client's
  one reconnect-and-retry then gets through).
- ``"down"``: as ``drop``, and every connection is closed at once for ``freeze`` seconds (Redis
  killed before the write, and restarted a little later).
- ``"lost_reply"``: the command runs in Redis, then the connection is closed before its reply
  (Redis killed after the write: done, but the client cannot know).
- ``"freeze"``: the command is held for ``freeze`` seconds (longer than the client's socket
  timeout), then sent: it lands after the client gave up (Redis frozen, then thawed).

Commands are parsed from the client's RESP stream (arrays of bulk strings, as redis-py sends
them; a pipeline is several in one write). Connection set-up (``HELLO``, ``CLIENT``, ``SELECT``,
``AUTH``, ``PING``) is forwarded and not counted.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

SETUP = {b"HELLO", b"CLIENT", b"SELECT", b"AUTH", b"PING", b"READONLY"}


@dataclass
class _Armed:
    index: int
    fault: str
    fired: bool = False


@dataclass
class RedisProxy:
    """Listens on a free loopback port (``url``) and forwards to ``target_port``."""

    target_port: int
    freeze: float = 2.5
    commands: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._armed: _Armed | None = None
        self._counted = 0
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._down_until = 0.0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def record(self) -> None:
        """Count (and list in ``commands``) from now on, without faults."""
        with self._lock:
            self._armed, self._counted = None, 0
            self.commands = []

    def arm(self, index: int, fault: str) -> None:
        assert fault in ("drop", "down", "lost_reply", "freeze"), fault
        with self._lock:
            self._armed, self._counted = _Armed(index, fault), 0
            self.commands = []

    @property
    def fired(self) -> bool:
        return self._armed is not None and self._armed.fired

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._down_until:  # "down": nobody gets through
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            link = _Link(self, client, upstream)
            threading.Thread(target=link.upward, daemon=True).start()
            threading.Thread(target=link.downward, daemon=True).start()

    def _decide(self, name: bytes) -> str | None:
        """The fault for the command just parsed, if it is the armed one."""
        if name.upper() in SETUP:
            return None
        with self._lock:
            self.commands.append(name.upper())
            k = self._counted
            self._counted += 1
            armed = self._armed
            if armed is not None and not armed.fired and armed.index == k:
                armed.fired = True
                return armed.fault
        return None


class _Link:
    """One client connection: commands up (parsed, maybe faulted), replies down."""

    def __init__(self, proxy: RedisProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.buffer = b""
        self.cut_replies = threading.Event()  # lost_reply: drop the connection instead of answering

    def _shut(self) -> None:
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def upward(self) -> None:
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                self.buffer += data
                while True:
                    parsed = _one_command(self.buffer)
                    if parsed is None:
                        break
                    raw, name = parsed
                    self.buffer = self.buffer[len(raw) :]
                    fault = self.proxy._decide(name)
                    if fault == "down":
                        self.proxy._down_until = time.monotonic() + self.proxy.freeze
                    if fault in ("drop", "down"):
                        self._shut()
                        return
                    if fault == "freeze":
                        time.sleep(self.proxy.freeze)
                    if fault == "lost_reply":
                        self.cut_replies.set()
                    self.upstream.sendall(raw)
        except OSError:
            pass
        self._shut()

    def downward(self) -> None:
        try:
            while True:
                data = self.upstream.recv(65536)
                if not data:
                    break
                if self.cut_replies.is_set():
                    time.sleep(0.05)  # let the command finish in Redis; its reply is never passed on
                    break
                self.client.sendall(data)
        except OSError:
            pass
        self._shut()


def _line(buffer: bytes, at: int) -> tuple[bytes, int] | None:
    end = buffer.find(b"\r\n", at)
    return None if end < 0 else (buffer[at:end], end + 2)


def _one_command(buffer: bytes) -> tuple[bytes, bytes] | None:
    """The first whole command in ``buffer`` (its bytes and its name), or None if incomplete."""
    if not buffer:
        return None
    if buffer[:1] != b"*":  # an inline command: one line
        line = _line(buffer, 0)
        return None if line is None else (buffer[: line[1]], line[0].split(b" ", 1)[0])
    head = _line(buffer, 1)
    if head is None:
        return None
    count, at = int(head[0]), head[1]
    name = b""
    for i in range(count):
        if buffer[at : at + 1] != b"$":
            return None if at >= len(buffer) else (buffer[:at], name)  # not bulk strings: pass as is
        size_line = _line(buffer, at + 1)
        if size_line is None:
            return None
        size, start = int(size_line[0]), size_line[1]
        if len(buffer) < start + size + 2:
            return None
        if i == 0:
            name = buffer[start : start + size]
        at = start + size + 2
    return buffer[:at], name
