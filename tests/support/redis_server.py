"""A real ``redis-server`` for tests: on a free loopback port, in a temporary directory, without
persistence unless asked for (``persistent=True``: an append-only file, as production runs it).

``stop()`` shuts it down, ``kill()`` SIGKILLs it (a crash), ``pause()``/``resume()`` freeze it and
let it go on (a silent server), ``restart()`` brings it back on the same port (empty unless persistent).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    """A loopback TCP port nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def end(process: subprocess.Popen, timeout: float) -> None:
    """Stop ``process`` if it runs: SIGTERM, then SIGKILL after ``timeout`` seconds; wait for it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer:
    """One ``redis-server`` process; ``url`` stays the same across restarts."""

    def __init__(self, executable: str | None = None, *, port: int | None = None, persistent: bool = False) -> None:
        found = executable or shutil.which("redis-server")
        if found is None:
            raise FileNotFoundError(
                "redis-server is not on PATH: install it (apt-get install -y redis-server; scripts/test does)"
            )
        self.executable = found
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="dispatch-redis-"))
        self.log = self.dir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None
        #: With an append-only file fsynced on every write, as production runs it: what a killed
        #: server had acknowledged is there when it starts again.
        self.persistent = persistent

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and return once it answers PING."""
        if self.process is not None and self.process.poll() is None:
            return self
        command = [
            self.executable,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
            "--dir", str(self.dir),
            "--logfile", str(self.log),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer PING within {timeout} s: {self._log_tail()}")
            time.sleep(0.02)
        return self

    def ping(self) -> bool:
        """Whether the server answers PING now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Shut the server down (SIGTERM) and wait for it."""
        if self.process is not None:
            end(self.process, timeout=10)
        self.process = None

    def kill(self) -> None:
        """Kill the server (SIGKILL), as a crash would, and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and nothing answers, as a hung host."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server go on (SIGCONT)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def restart(self) -> RedisServer:
        """Stop the server if it runs and start it again on the same port."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-5:])
        except OSError:
            return "(no log)"
