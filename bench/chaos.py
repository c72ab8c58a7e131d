"""Chaos run for exactly-once delivery, as an operator of a real deployment would try it:
PostgreSQL + Redis, a gunicorn web server (2 workers), several `manage.py qcluster`
process groups killed with kill -9 every 2 to 4 s (some aimed at the moment a worker
holds a lane, some right after a branch moved), one web worker killed, and on the
github backend the emulator injecting transient faults (5xx, dropped and hung
answers, secondary rate limits), while pods submit over HTTP (bench.chaos_load).
Then every branch is audited against the database (bench.chaos_audit).

    .venv/bin/python -m bench.chaos [--backends local,github] [--pods 20] [--promotions 10] [--clusters 3]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379.
Uses a throwaway database (dropped at the end) and Redis database 14 (flushed);
everything listens on 127.0.0.1. Exits non-zero when an invariant is broken, something
is stuck or failed, or the drain took a minute or more. `make chaos` runs it.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import redis
import requests

from bench.chaos_faults import Chaos, github_heads, inject_faults, local_heads

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/14"
BRANCHES = ["main", "feature-1", "feature-2", "feature-3"]
TOKEN = "chaos-token"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="local,github", help="comma-separated: local, github")
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--promotions", type=int, default=10, help="per pod")
    parser.add_argument("--clusters", type=int, default=3, help="qcluster process groups")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per qcluster")
    parser.add_argument("--latency-ms", type=int, default=20, help="the emulator's round trip")
    parser.add_argument("--load-timeout", type=int, default=300, help="seconds the pods may take, at most")
    parser.add_argument("--pause", type=float, default=4, help="a pod waits up to this long between promotions")
    parser.add_argument("--seed", type=int, default=15)
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Fleet:
    """The deployment's processes, each started in a process group of its own so that
    kill -9 takes a whole qcluster (sentinel, workers, monitor, pusher) at once."""

    def __init__(self, env: dict[str, str], clusters: int):
        self.env = env
        self.clusters: list[subprocess.Popen] = [self._qcluster() for _ in range(clusters)]
        self.web: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def _qcluster(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start_web(self, port: int) -> str:
        from promotions.management.commands.serve import web_command

        command = [part for part in web_command("127.0.0.1", port) if part not in ("--access-logfile", "-")]
        self.web = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                    return url
            except requests.RequestException:
                pass  # still starting
            time.sleep(0.2)
        raise SystemExit("the web server did not answer /healthz within 60s")

    def cluster_of(self, pid: int) -> int | None:
        """Which of our qclusters a process belongs to (its process group), if any."""
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            return None
        with self.lock:
            return next((i for i, p in enumerate(self.clusters) if p.pid == group and p.poll() is None), None)

    def kill_cluster(self, index: int, restart_after: float) -> None:
        with self.lock:
            doomed = self.clusters[index]
            try:
                os.killpg(doomed.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            doomed.wait()
        time.sleep(restart_after)
        with self.lock:
            self.clusters[index] = self._qcluster()

    def kill_web_worker(self) -> bool:
        """SIGKILL one gunicorn worker (its master starts another)."""
        assert self.web is not None
        workers = _children(self.web.pid)
        if workers:
            os.kill(workers[0], signal.SIGKILL)
        return bool(workers)

    def stop(self) -> None:
        for process in [*self.clusters, *([self.web] if self.web else [])]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.clusters, *([self.web] if self.web else [])]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def start_emulator(latency_ms: int) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "github_emulator",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
            "--repo",
            "acme/chaos",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # werkzeug's trace of each client the chaos cut off mid-request
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def prepare(args, emulator_url: str, workdir: Path) -> tuple[dict[str, str], str]:
    """A throwaway database and environment; Django set up on it in this process too."""
    database = f"patchgate_chaos_{os.getpid()}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    redis.Redis.from_url(REDIS).flushdb()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{POSTGRES}/{database}",
        "REDIS_URL": REDIS,
        "PATCHGATE_DATA_DIR": str(workdir / "var"),
        "LOCAL_REPOS_DIR": str(workdir / "repos"),
        "GITHUB_API_URL": emulator_url,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_TIMEOUT_SECONDS": "2",
        # The emulator enforces no secondary limit, and this run writes faster than GitHub's 80 a minute.
        "GITHUB_WRITE_LIMITS": "off",
        "RETRY_BASE_SECONDS": "0.5",
        "Q_WORKERS": str(args.workers),
        "THROTTLE_RATE": "100000/min",
        "LOG_LEVEL": "ERROR",
        "DEBUG": "false",
        "PORT": str(port),
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    return env, database


def drop(database: str) -> None:
    from django.db import connections

    connections.close_all()
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    redis.Redis.from_url(REDIS).flushdb()


def run_backend(backend: str, args, fleet: Fleet, base_url: str, emulator_url: str) -> dict:
    from bench.chaos_audit import audit, describe_failures, describe_stuck, wait_until_final
    from bench.chaos_load import run_pods, set_up

    repository, pods = set_up(backend, args.pods, BRANCHES)
    rng = random.Random(f"{args.seed}-{backend}")
    stop = threading.Event()
    head_of = (
        github_heads(emulator_url, TOKEN, repository.full_name) if backend == "github" else local_heads(repository)
    )
    chaos = Chaos(fleet, repository, BRANCHES, head_of, rng, stop)
    threads = [threading.Thread(target=chaos.run, name="kills")]
    if backend == "github":
        threads.append(threading.Thread(target=inject_faults, args=(emulator_url, rng, stop, chaos.figures)))
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        load = run_pods(
            base_url, pods, repository.full_name, BRANCHES, args.promotions, args.seed, args.load_timeout, args.pause
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    load_seconds = time.monotonic() - started
    if backend == "github":
        requests.delete(f"{emulator_url}/_emulator/faults", timeout=5)
    drained_in, stuck = wait_until_final(load.accepted, cap=120)
    if stuck:
        print(f"{backend}: {len(stuck)} promotions not final after the drain:", *describe_stuck(stuck), sep="\n  ")
    failures = describe_failures(load.accepted)
    if failures:
        print(f"{backend}: failed promotions, by error:", *failures, sep="\n  ")
    figures = audit(repository, BRANCHES, load, stuck)
    return {
        "backend": backend,
        "load_seconds": load_seconds,
        "drain_seconds": drained_in,
        **chaos.figures,
        **load.figures,
        **figures,
    }


def main() -> None:
    args = parse_args()
    os.chdir(ROOT)
    workdir = Path(tempfile.mkdtemp(prefix="patchgate-chaos-"))
    emulator, emulator_url = start_emulator(args.latency_ms)
    database, fleet, results = "", None, []
    try:
        env, database = prepare(args, emulator_url, workdir)
        fleet = Fleet(env, args.clusters)
        base_url = fleet.start_web(int(env["PORT"]))
        for backend in args.backends.split(","):
            results.append(run_backend(backend.strip(), args, fleet, base_url, emulator_url))
    finally:
        if fleet is not None:
            fleet.stop()
        emulator.terminate()
        emulator.wait(timeout=10)
        if database:
            drop(database)
        shutil.rmtree(workdir, ignore_errors=True)
    from bench.chaos_audit import BROKEN, print_report

    print_report(results, args, len(BRANCHES))
    if any(result[name] for result in results for name in BROKEN) or any(r["drain_seconds"] >= 60 for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
