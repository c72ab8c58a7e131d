"""Promotions per second on one branch with 1, 10 and 50 racing pods, against the
GitHub emulator with a realistic round trip, in one run:

- Patchgate: each pod records its promotions (a batch of files each) and a real
  django-q2 cluster applies them through PyGithub: one commit per promotion, queued
  promotions landing as a chain with one ref update.
- per file: what the seed did, each pod for each file of each promotion reads it
  (GET contents) then writes it with its sha (PUT contents), one commit per file,
  re-reading and writing again when another writer got there first.

    .venv/bin/python bench/racing_pods.py [--pods 1,10,50] [--promotions 2] [--files 5] [--latency-ms 75]

Runs on a throwaway SQLite database (var/bench_racing.sqlite3) with the ORM broker,
the embedded default; set DATABASE_URL and REDIS_URL for the scale-out path.
"""

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.per_file import TOKEN, client, commits_on, promote_per_file  # noqa: E402
from tests.fakegithub import FakeGitHub  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", default="1,10,50", help="comma-separated pod counts")
    parser.add_argument("--promotions", type=int, default=2, help="promotions per pod")
    parser.add_argument("--files", type=int, default=5, help="files per promotion")
    parser.add_argument("--latency-ms", type=int, default=75, help="the emulator's round trip")
    parser.add_argument("--workers", type=int, default=4, help="django-q2 worker processes")
    return parser.parse_args()


def configure(emulator: FakeGitHub) -> None:
    """Environment first: Django reads it once, and the cluster inherits it."""
    database = ROOT / "var" / "bench_racing.sqlite3"
    if "DATABASE_URL" not in os.environ:
        database.parent.mkdir(exist_ok=True)
        for leftover in database.parent.glob(database.name + "*"):
            leftover.unlink()
        os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        GITHUB_API_URL=emulator.url,
        GITHUB_TOKEN=TOKEN,
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def start_cluster(workers: int) -> subprocess.Popen:
    env = {**os.environ, "Q_WORKERS": str(workers)}
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def batch(pod: int, promotion: int, files: int) -> list[tuple[str, str]]:
    return [(f"pods/p{pod:02}/run{promotion}/file{i}.md", f"pod {pod} run {promotion} file {i}\n") for i in range(files)]


def run_pods(count: int, work) -> float:
    """Start `count` pods at once; seconds until the last one is done."""
    gate = threading.Barrier(count + 1)

    def pod(index):
        gate.wait()
        work(index)

    threads = [threading.Thread(target=pod, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def patchgate_round(emulator, pods: int, promotions: int, files: int) -> dict:
    from promotions import services
    from promotions.models import Promotion, Repository
    from tests.cluster import wait_until_final

    full_name = f"bench/patchgate-{pods}"
    emulator.create_repository(full_name)
    repository, _ = services.add_repository(full_name, Repository.Backend.GITHUB)
    pod_rows = [services.create_pod(f"bench-{pods}-{i}", [repository])[0] for i in range(pods)]
    submitted: list[list[int]] = [[] for _ in range(pods)]

    def work(index):
        for number in range(promotions):
            request = services.PromotionRequest(
                repository=repository,
                branch="main",
                commit_message=f"pod {index} run {number}",
                reasoning_trace="",
                metadata={},
                atomic=True,
                mode=Promotion.Mode.DIRECT,
                files=[
                    services.FileRequest(path, "upsert", "utf-8", content.encode(), False, None)
                    for path, content in batch(index, number, files)
                ],
            )
            submitted[index].append(services.submit_promotion(pod_rows[index], request)[0].pk)

    emulator.reset_stats()
    started = time.perf_counter()
    run_pods(pods, work)
    final = wait_until_final([pk for ids in submitted for pk in ids], timeout=600)
    elapsed = time.perf_counter() - started
    committed = sum(p.status == Promotion.Status.COMMITTED for p in final)
    return {"seconds": elapsed, "committed": committed, "calls": emulator.stats()["requests"], "commits": commits_on(emulator.url, full_name)}


def per_file_round(emulator, pods: int, promotions: int, files: int) -> dict:
    full_name = f"bench/perfile-{pods}"
    emulator.create_repository(full_name)

    def work(index):
        repo = client(emulator.url).get_repo(full_name)
        for number in range(promotions):
            promote_per_file(repo, batch(index, number, files), f"pod {index} run {number}")

    emulator.reset_stats()
    elapsed = run_pods(pods, work)
    return {"seconds": elapsed, "committed": pods * promotions, "calls": emulator.stats()["requests"], "commits": commits_on(emulator.url, full_name)}


def main():
    args = parse_args()
    emulator = FakeGitHub(latency_ms=args.latency_ms).start()
    configure(emulator)
    cluster = start_cluster(args.workers)
    try:
        print(
            f"one branch, {args.promotions} promotions of {args.files} files per pod, emulator round trip "
            f"{args.latency_ms} ms, {args.workers} workers, database {os.environ['DATABASE_URL'].split(':')[0]}"
        )
        header = f"{'pods':>5} {'promotions':>10} | {'Patchgate':>12} {'calls':>6} {'commits':>7} | {'per file':>12} {'calls':>6} {'commits':>7} | speed-up"
        print(header)
        print("-" * len(header))
        for pods in [int(n) for n in args.pods.split(",")]:
            ours = patchgate_round(emulator, pods, args.promotions, args.files)
            theirs = per_file_round(emulator, pods, args.promotions, args.files)
            total = pods * args.promotions
            ours_rate, theirs_rate = ours["committed"] / ours["seconds"], theirs["committed"] / theirs["seconds"]
            print(
                f"{pods:>5} {total:>10} | {ours_rate:>8.1f} p/s {ours['calls']:>6} {ours['commits']:>7} | "
                f"{theirs_rate:>8.1f} p/s {theirs['calls']:>6} {theirs['commits']:>7} | x{ours_rate / theirs_rate:.1f}"
            )
    finally:
        cluster.terminate()
        cluster.wait(timeout=30)
        emulator.stop()


if __name__ == "__main__":
    main()
