"""`make run`'s foreground service: the web server (REST API, admin, MCP endpoint) and
the django-q2 worker, started and stopped together."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


def web_command(host: str, port: int, *, workers: int = 2, threads: int = 12) -> list[str]:
    """The web server of `make run`: the REST API, the admin and the MCP endpoint (/mcp)."""
    return [
        sys.executable, "-m", "gunicorn", "config.wsgi",
        "--bind", f"{host}:{port}", "--workers", str(workers), "--threads", str(threads),
        "--access-logfile", "-", "--graceful-timeout", "5",
        # Else gunicorn (>= 25.1) opens a control socket that every gunicorn of the user
        # shares by default, through which one instance can stop another.
        "--no-control-socket",
    ]  # fmt: skip


class Command(BaseCommand):
    help = "Run the web server (gunicorn) and the django-q2 worker together until Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, host, port, **options):
        web = web_command(host, port)
        worker = [sys.executable, "manage.py", "qcluster"]
        processes = [subprocess.Popen(command, cwd=settings.BASE_DIR) for command in (web, worker)]
        self.stdout.write(f"Serving on http://{host}:{port}/ with a django-q2 worker; Ctrl-C stops both.")
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        # Either process ending (or Ctrl-C) stops the other: never half a service.
        while not stopping and all(process.poll() is None for process in processes):
            time.sleep(0.5)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        codes = [process.returncode for process in processes]
        if not stopping and any(codes):
            raise SystemExit(f"a process exited with {codes}")
