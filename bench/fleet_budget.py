"""A fleet of pods on one GitHub credential under GitHub's secondary limit, with and
without Patchgate's shared write budget, in one run against the emulator:

- 50 pods over 10 branches of 2 repositories, each pod promoting a small batch, then
  the next once the last one is final, for a fixed time; a real django-q2 cluster
  applies them through PyGithub.
- The emulator answers writes past a scaled limit (20 per 10 s per credential, as
  GitHub's 80 a minute) with its secondary-limit 403.
- With the budget (GITHUB_WRITE_LIMITS set as the limit) and without it (off: the
  lanes learn of the limit from GitHub's 403 and retry-after).
- Timings scaled with the window: the lane clock ticks every 0.2 s (its 1 s default
  is meant for GitHub's 60 s window).

Printed for each: promotions per minute, writes per minute against the limit's
ceiling (utilisation), writes per promotion, secondary-limit answers drawn, and per
pod the time its promotions waited for the budget, their time to commit and how many
landed (fairness: the spread between pods).

    .venv/bin/python -m bench.fleet_budget [--pods 50] [--branches 10] [--repositories 2] [--limit 20/10]
                                           [--seconds 120] [--latency-ms 75] [--workers 4] [--lane-clock-seconds 0.2]

Runs on a throwaway SQLite database (var/bench_fleet.sqlite3) with the ORM broker.
"""

import argparse
import os
import statistics
import threading
import time
from typing import Any

from bench.harness import django_against, worker_cluster
from bench.per_file import TOKEN
from github_emulator import GitHubEmulator
from github_emulator.limits import parse_write_limits

POLL_SECONDS = 1.0
# How long pods wait past the deadline for what they promoted before it.
LATE_SECONDS = 120


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--branches", type=int, default=10, help="in all, spread over the repositories")
    parser.add_argument("--repositories", type=int, default=2)
    parser.add_argument("--limit", default="20/10", help="the emulator's secondary limit, N/SECONDS per credential")
    parser.add_argument("--seconds", type=float, default=120, help="how long pods keep promoting, per fleet")
    parser.add_argument("--files", type=int, default=3, help="files per promotion")
    parser.add_argument("--latency-ms", type=int, default=75, help="the emulator's round trip")
    parser.add_argument("--workers", type=int, default=4, help="django-q2 worker processes")
    parser.add_argument(
        "--lane-clock-seconds",
        type=float,
        default=0.2,
        help="LANE_CLOCK_SECONDS, scaled with the limit's window (1 s against GitHub's 60 s window)",
    )
    return parser.parse_args()


def targets(emulator: GitHubEmulator, tag: str, args) -> list[tuple[Any, str]]:
    """The fleet's lanes: (repository, branch), branches made in the emulator's store
    (no write counted against the limit)."""
    from promotions.audit import Actor
    from promotions.models import Repository
    from promotions.services.access import repository_register

    lanes = []
    for r in range(args.repositories):
        name = f"fleet/{tag}-{r}"
        store = emulator.create_repository(name)
        repository, _ = repository_register(
            full_name=name, backend=Repository.Backend.GITHUB, actor=Actor.system("bench")
        )
        for b in range(args.branches // args.repositories):
            branch = f"lane-{b}"
            store.set_ref(f"refs/heads/{branch}", store.branch_head("main"))
            lanes.append((repository, branch))
    return lanes


def cluster_env(args, write_limits: str) -> dict[str, str]:
    return {
        **os.environ,
        "Q_WORKERS": str(args.workers),
        "GITHUB_WRITE_LIMITS": write_limits,
        "LANE_CLOCK_SECONDS": str(args.lane_clock_seconds),
    }


def fleet_round(emulator: GitHubEmulator, tag: str, write_limits: str, args) -> dict:
    from promotions.audit import Actor
    from promotions.models import Promotion
    from promotions.services.access import pod_create
    from promotions.services.promotions import FileRequest, PromotionRequest, promotion_submit

    lanes = targets(emulator, tag, args)
    pods = []
    for index in range(args.pods):
        repository, branch = lanes[index % len(lanes)]
        pod, _ = pod_create(name=f"{tag}-{index:02}", actor=Actor.system("bench"), repositories=[repository])
        pods.append((pod, branch))
    with worker_cluster(cluster_env(args, write_limits)):
        time.sleep(1)  # with worker_cluster's 2 s: the workers' first pick-up is not the budget's doing
        emulator.set_write_limits(args.limit)  # a fresh count for this fleet
        emulator.reset_stats()
        started = time.monotonic()
        deadline = started + args.seconds
        submitted: list[list[int]] = [[] for _ in pods]

        def work(index: int) -> None:
            pod, branch = pods[index]
            number = 0
            while time.monotonic() < deadline:
                files = [
                    FileRequest(f"pods/{pod.name}/{number}/f{i}.md", content=f"{pod.name} {number} {i}\n".encode())
                    for i in range(args.files)
                ]
                request = PromotionRequest(files=files, commit_message=f"{pod.name} run {number}", branch=branch)
                promotion = promotion_submit(pod=pod, request=request)[0]
                submitted[index].append(promotion.pk)
                while not promotion.is_final and time.monotonic() < deadline + LATE_SECONDS:
                    time.sleep(POLL_SECONDS)
                    promotion.refresh_from_db(fields=["status"])
                number += 1

        threads = [threading.Thread(target=work, args=(index,)) for index in range(len(pods))]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, deadline - time.monotonic()))
        at_deadline = emulator.stats()
        for thread in threads:
            thread.join()

    minutes = args.seconds / 60
    finished_by = {pk: p for pk, p in Promotion.objects.in_bulk([pk for ids in submitted for pk in ids]).items()}
    in_time = [
        p
        for p in finished_by.values()
        if p.status == Promotion.Status.COMMITTED and p.finished_at and p.finished_at.timestamp() <= _wall(deadline)
    ]
    per_pod = [[finished_by[pk] for pk in ids] for ids in submitted]
    landed = [sum(p.status == Promotion.Status.COMMITTED for p in mine) for mine in per_pod]
    waits = [statistics.mean(p.budget_wait_seconds for p in mine) if mine else 0.0 for mine in per_pod]
    latencies = [
        statistics.mean([(p.finished_at - p.created_at).total_seconds() for p in mine if p.finished_at] or [0.0])
        for mine in per_pod
    ]
    count, seconds = parse_write_limits(args.limit)[0]
    ceiling = count / seconds * 60
    writes = at_deadline["writes"]
    return {
        "promotions_per_minute": len(in_time) / minutes,
        "writes_per_minute": writes / minutes,
        "ceiling": ceiling,
        "utilisation": writes / minutes / ceiling,
        "writes_per_promotion": writes / max(len(in_time), 1),
        "rate_limited": at_deadline["rate_limited"],
        "failed": sum(p.status == Promotion.Status.FAILED for p in finished_by.values()),
        "not_landed": sorted(p.status for p in finished_by.values() if p.status != Promotion.Status.COMMITTED),
        "waits": waits,
        "latencies": latencies,
        "landed": landed,
    }


def _wall(monotonic: float) -> float:
    """A monotonic instant as wall-clock epoch seconds."""
    return time.time() - (time.monotonic() - monotonic)


def spread(values: list[float]) -> str:
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def main():
    args = parse_args()
    emulator = GitHubEmulator(latency_ms=args.latency_ms, write_limits=args.limit).start()
    django_against(emulator.url, TOKEN, "bench_fleet.sqlite3", unpaced=False)
    print(
        f"{args.pods} pods over {args.branches} branches of {args.repositories} repositories on one token, "
        f"{args.seconds:g} s each, {args.files} files a promotion; the emulator's secondary limit {args.limit} "
        f"per credential, round trip {args.latency_ms} ms; {args.workers} workers, lane clock "
        f"{args.lane_clock_seconds:g} s, SQLite"
    )
    print(
        "| fleet | promotions/min | writes/min (ceiling) | utilisation | writes/promotion | secondary-limit 403s "
        "| failed | wait per promotion, per pod (min / median / max s) | time to commit per pod (s) | landed per pod |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for tag, write_limits in (("budget", args.limit), ("no-budget", "off")):
        row = fleet_round(emulator, tag, write_limits, args)
        label = f"with the budget ({args.limit})" if tag == "budget" else "without it (GitHub's 403s)"
        print(
            f"| {label} | {row['promotions_per_minute']:.1f} | {row['writes_per_minute']:.1f} ({row['ceiling']:g}) "
            f"| {row['utilisation']:.0%} | {row['writes_per_promotion']:.2f} | {row['rate_limited']} | {row['failed']} "
            f"| {spread(row['waits'])} | {spread(row['latencies'])} | {min(row['landed'])} to {max(row['landed'])} |",
            flush=True,
        )
        if row["not_landed"]:
            print(f"  ({label}: not landed: {', '.join(row['not_landed'])})", flush=True)
    emulator.stop()


if __name__ == "__main__":
    main()
