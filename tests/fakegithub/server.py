"""FakeGitHub: the emulator served over real HTTP by a threaded werkzeug server in
this process, with the controls that tests and benchmarks use."""

from __future__ import annotations

import threading
from typing import Callable

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import Emulator


class QuietRequestHandler(WSGIRequestHandler):
    """GitHub's Server header, and no access log line per request (benchmarks send
    thousands)."""

    def version_string(self) -> str:
        return "GitHub.com"

    def log_request(self, *args, **kwargs) -> None:
        pass


class FakeGitHub:
    def __init__(self, latency_ms: float = 0, host: str = "127.0.0.1", port: int = 0):
        self.emulator = Emulator(latency_ms)
        self.host, self.port = host, port
        self._server = None
        self._thread = None

    def _bind(self) -> None:
        self._server = make_server(self.host, self.port, self.emulator, threaded=True, request_handler=QuietRequestHandler)
        self.port = self._server.server_port

    def start(self) -> FakeGitHub:
        """Serve from a background thread; port 0 (the default) picks a free port."""
        self._bind()
        self._thread = threading.Thread(target=self._server.serve_forever, name="fakegithub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.emulator.release_hangs()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def serve_until_interrupted(self, on_ready: Callable[[], None]) -> None:
        """Serve in the calling thread (the command line's way); `on_ready` once bound."""
        self._bind()
        on_ready()
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    @property
    def url(self) -> str:
        """The API base URL, as PyGithub's base_url."""
        return f"http://{self.host}:{self.port}"

    def create_repository(self, full_name: str, default_branch: str = "main", auto_init: bool = True):
        owner, name = full_name.split("/")
        return self.emulator.create_repository(owner, name, auto_init, default_branch)

    def register_app(self, app_id: int, public_key_pem: str, installation_id: int) -> None:
        """A GitHub App whose JWTs (signed with the private half) are accepted, and one
        of its installations."""
        self.emulator.register_app(app_id, public_key_pem, installation_id)

    def stats(self) -> dict:
        return self.emulator.stats()

    def reset_stats(self) -> None:
        self.emulator.reset_stats()

    def set_latency(self, ms: float) -> None:
        self.emulator.latency_ms = ms

    def inject(self, fault: dict) -> None:
        self.emulator.inject(fault)

    def clear_faults(self) -> None:
        self.emulator.clear_faults()

    def reset(self) -> None:
        self.emulator.reset()
