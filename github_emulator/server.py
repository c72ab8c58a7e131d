"""GitHubEmulator: the emulator served over real HTTP by a threaded werkzeug server
in this process, with the controls that tests and benchmarks use."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Callable

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .core import Emulator
from .limits import TRUNCATE_ENTRIES, WriteLimits, parse_write_limits
from .routes import ROUTES


class QuietRequestHandler(WSGIRequestHandler):
    """GitHub's Server header, and no access log line per request (benchmarks send
    thousands)."""

    def version_string(self) -> str:
        return "GitHub.com"

    def log_request(self, *args, **kwargs) -> None:
        pass


class GitHubEmulator:
    def __init__(
        self,
        latency_ms: float = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        write_limits: str = "",
        truncate_entries: int = TRUNCATE_ENTRIES,
    ):
        """`write_limits` ("N/SECONDS[,N/SECONDS]", e.g. "80/60,500/3600") answers the
        writes of a credential past any window as GitHub's secondary limit does;
        recursive trees are cut past `truncate_entries` entries (or 7 MB)."""
        self.emulator = Emulator(ROUTES, latency_ms, parse_write_limits(write_limits), truncate_entries)
        self.host, self.port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _bind(self) -> BaseWSGIServer:
        self._server = server = make_server(
            self.host, self.port, self.emulator, threaded=True, request_handler=QuietRequestHandler
        )
        self.port = server.server_port
        return server

    def start(self) -> GitHubEmulator:
        """Serve from a background thread; port 0 (the default) picks a free port."""
        server = self._bind()
        self._thread = thread = threading.Thread(target=server.serve_forever, name="github-emulator", daemon=True)
        thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.emulator.release_hangs()
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._server = self._thread = None

    def serve_until_interrupted(self, on_ready: Callable[[], None]) -> None:
        """Serve in the calling thread (the command line's way); `on_ready` once bound."""
        server = self._bind()
        on_ready()
        try:
            server.serve_forever()
        finally:
            server.server_close()

    @property
    def url(self) -> str:
        """The API base URL, as PyGithub's base_url."""
        return f"http://{self.host}:{self.port}"

    def create_repository(
        self, full_name: str, default_branch: str = "main", auto_init: bool = True, files: Iterable | None = None
    ):
        """A repository whose first commit holds a README and `files`, (path, content)
        pairs: a generator of 100,000 of them builds in seconds."""
        owner, name = full_name.split("/")
        return self.emulator.create_repository(owner, name, auto_init, default_branch, files)

    def register_app(
        self, app_id: int, public_key_pem: str, installation_id: int | None = None, owner: str | None = None
    ) -> None:
        """A GitHub App whose JWTs (signed with the private half) are accepted, and,
        with `installation_id`, installed on `owner` (None: on every account)."""
        self.emulator.register_app(app_id, public_key_pem)
        if installation_id is not None:
            self.install_app(installation_id, app_id, owner)

    def install_app(self, installation_id: int, app_id: int, owner: str | None) -> None:
        """Install a registered App on an account: its tokens reach that account's
        repositories only."""
        self.emulator.install_app(installation_id, app_id, owner)

    def set_write_limits(self, write_limits: str) -> None:
        """As the constructor's `write_limits` ("" for none); counting starts afresh."""
        self.emulator.write_limit_windows = parse_write_limits(write_limits)
        self.emulator.write_limits = WriteLimits(self.emulator.write_limit_windows)

    def set_truncate_entries(self, count: int) -> None:
        self.emulator.truncate_entries = count

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
