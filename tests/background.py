"""What every server a test runs shares: `with` starts it unless it already runs and stops it after, and an
HTTP server served from a daemon thread."""

from __future__ import annotations

import threading
from http.server import HTTPServer
from typing import Self


class Service:
    """A server a test starts and stops; subclasses give `start`, `stop` and `running`."""

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self if self.running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(server: HTTPServer, name: str) -> threading.Thread:
    """Serve `server` from a daemon thread (stopped by `shut_down`)."""
    thread = threading.Thread(target=server.serve_forever, name=name, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


def shut_down(server: HTTPServer, thread: threading.Thread | None = None) -> None:
    server.shutdown()
    server.server_close()
    if thread is not None:
        thread.join(timeout=10)
