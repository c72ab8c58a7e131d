"""What the benchmarks run and read: Django set up in the benchmark's own process on a
throwaway database, throwaway PostgreSQL databases, the web server exactly as
`make run` starts it, a django-q2 cluster, the GitHub emulator in a process of its
own, wrk, and a process's memory from /proc. Loopback only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


# --- databases ----------------------------------------------------------------------


def django_against(github_url: str, token: str, sqlite_name: str, unpaced: bool = True) -> None:
    """Set Django up in this process (and, through the environment, in the clusters it
    starts) against the emulator, on a fresh SQLite database `var/<sqlite_name>` unless
    DATABASE_URL names one. `unpaced`: no write budget, so the figures show what GitHub
    would see (the ceilings are worked out from the writes counted)."""
    if "DATABASE_URL" not in os.environ:
        database = ROOT / "var" / sqlite_name
        database.parent.mkdir(exist_ok=True)
        for leftover in database.parent.glob(database.name + "*"):
            leftover.unlink()
        os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    if unpaced:
        os.environ.setdefault("GITHUB_WRITE_LIMITS", "1000000/60")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings", GITHUB_API_URL=github_url, GITHUB_TOKEN=token, LOG_LEVEL="WARNING"
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql)


@contextmanager
def throwaway_database(admin_url: str, name: str):
    """A new, migrated database, dropped afterwards; yields its URL."""
    _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    url = database_url(admin_url, name)
    try:
        env = {**os.environ, "DATABASE_URL": url}
        for command in (["migrate", "--no-input", "-v0"], ["createcachetable"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
        yield url
    finally:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- processes ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def running(command: list[str], env: dict[str, str]):
    """A child process, stopped (SIGTERM, then SIGKILL) afterwards."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.returncode not in (0, -15):
            log.seek(0)
            sys.stderr.write(log.read()[-3000:].decode(errors="replace"))


@contextmanager
def web_server(env: dict[str, str]):
    """`make run`'s gunicorn (2 workers x 12 threads); yields (base URL, master process)."""
    from promotions.management.commands.serve import web_command

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(web_command("127.0.0.1", port), {**env, "PUBLIC_URL": base}) as process:
        wait_for(f"{base}/healthz")
        yield base, process


@contextmanager
def worker_cluster(env: dict[str, str]):
    with running([sys.executable, "manage.py", "qcluster"], env) as process:
        time.sleep(2)  # its workers start
        yield process


@contextmanager
def emulator(repositories: list[str]):
    """`python -m github_emulator` in its own process; yields its URL."""
    command = [sys.executable, "-m", "github_emulator", "--port", "0"]
    for name in repositories:
        command += ["--repo", name]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()  # type: ignore[union-attr]
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def emulator_latency(url: str, ms: float) -> None:
    body = json.dumps({"ms": ms}).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(f"{url}/_emulator/latency", data=body, headers=headers, method="POST")
    urllib.request.urlopen(request, timeout=5).close()


# --- memory -------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def memory(pid: int) -> tuple[int, int]:
    """(resident bytes now, peak resident bytes) of a process."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


def reset_peak(pid: int) -> None:
    """Start the peak (VmHWM) over from the current resident size (Linux clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# --- wrk ----------------------------------------------------------------------------

# Prints one JSON line with what the table needs, wrk's percentiles included (p95 is not in its report).
REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "p50": %f, "p95": %f, "p99": %f, '
    .. '"errors": %d, "non2xx": %d}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def post_lua(path: str, body: str, keys: list[str]) -> str:
    """A wrk script POSTing `body` to `path`, each request with the next pod's key; the
    requests are written once (wrk's own work per request stays as small as a GET's)."""
    quoted = ", ".join(f'"{key}"' for key in keys)
    return f"""
local keys = {{{quoted}}}
local body = [==[{body}]==]
local requests = {{}}
local n = 0
init = function(args)
  for i, key in ipairs(keys) do
    local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}}
    requests[i] = wrk.format("POST", "{path}", headers, body)
  end
end
request = function()
  n = n + 1
  return requests[n % #requests + 1]
end
{REPORT_LUA}"""


def wrk(
    url: str, *, connections: int, seconds: int, script: str = REPORT_LUA, headers: dict[str, str] | None = None
) -> dict:
    """Run wrk against `url` (two threads, like the clients of a 2-core machine);
    returns requests/s, latency percentiles (ms) and errors."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", lua.name]
        for name, value in (headers or {}).items():
            command += ["-H", f"{name}: {value}"]
        output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    result = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    result["rate"] = result["requests"] / result["seconds"]
    return result


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown CPU",
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return f"{os.cpu_count()} cores ({model}), {memory_kb / 1024 / 1024:.0f} GB"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_together(actions) -> float:
    """Start every action at once; seconds until the last is done."""
    gate = threading.Barrier(len(actions) + 1)
    threads = [threading.Thread(target=lambda a=action: (gate.wait(), a())) for action in actions]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started
