"""Promotions per second on one branch with 1, 10 and 50 racing pods, against the
GitHub emulator with a realistic round trip, in one run, with the reads and writes
each promotion cost and the ceiling that gives under GitHub's secondary limit on
content-creating requests (about 80 writes a minute, 500 an hour):

- Patchgate: each pod records its promotions (a batch of files each) and a real
  django-q2 cluster applies them through PyGithub: one commit per promotion. On the
  REST path queued promotions land as a chain (a tree and a commit each) with one
  ref update; on the GraphQL path as one createCommitOnBranch each.
- push_files: github-mcp-server's way per promotion (2 reads, 3 writes, no retry:
  a ref update that finds the branch moved loses the promotion);
- per file: what the seed did, each pod for each file of each promotion reads it
  (GET contents) then writes it with its sha (PUT contents), one commit per file,
  re-reading and writing again when another writer got there first.

    .venv/bin/python -m bench.racing_pods [--pods 1,10,50] [--promotions 2] [--files 5] [--latency-ms 75]

Runs on a throwaway SQLite database (var/bench_racing.sqlite3) with the ORM broker,
the embedded default; set DATABASE_URL and REDIS_URL for the scale-out path.
"""

import argparse
import os
import time
from functools import partial

from github import GithubException

from bench.github_calls import ceilings, push_files
from bench.harness import django_against, run_together, worker_cluster
from bench.per_file import TOKEN, client, commits_on, promote_per_file
from github_emulator import GitHubEmulator


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", default="1,10,50", help="comma-separated pod counts")
    parser.add_argument("--promotions", type=int, default=2, help="promotions per pod")
    parser.add_argument("--files", type=int, default=5, help="files per promotion")
    parser.add_argument("--latency-ms", type=int, default=75, help="the emulator's round trip")
    parser.add_argument("--workers", type=int, default=4, help="django-q2 worker processes")
    return parser.parse_args()


def batch(pod: int, promotion: int, files: int) -> list[tuple[str, str]]:
    return [
        (f"pods/p{pod:02}/run{promotion}/file{i}.md", f"pod {pod} run {promotion} file {i}\n") for i in range(files)
    ]


def counted(emulator, elapsed: float, committed: int, commits: int) -> dict:
    stats = emulator.stats()
    reads = stats["requests"] - stats["writes"]
    return {"seconds": elapsed, "committed": committed, "reads": reads, "writes": stats["writes"], "commits": commits}


def patchgate_round(emulator, pods: int, promotions: int, files: int, commit_path: str, tag="patchgate") -> dict:
    from promotions.audit import Actor
    from promotions.models import Promotion, Repository
    from promotions.selectors import promotion_wait
    from promotions.services.access import pod_create, repository_register
    from promotions.services.promotions import FileRequest, PromotionRequest, promotion_submit

    full_name = f"bench/{tag}-{commit_path}-{pods}"
    emulator.create_repository(full_name)
    actor = Actor.system("bench")
    repository, _ = repository_register(
        full_name=full_name, backend=Repository.Backend.GITHUB, actor=actor, commit_path=commit_path
    )
    names = [f"{tag}-{commit_path}-{pods}-{i}" for i in range(pods)]
    pod_rows = [pod_create(name=name, actor=actor, repositories=[repository])[0] for name in names]
    submitted: list[list[int]] = [[] for _ in range(pods)]

    def work(index):
        for number in range(promotions):
            request = PromotionRequest(
                commit_message=f"pod {index} run {number}",
                files=[FileRequest(path, content=content.encode()) for path, content in batch(index, number, files)],
            )
            submitted[index].append(promotion_submit(pod=pod_rows[index], request=request)[0].pk)

    emulator.reset_stats()
    started = time.perf_counter()
    run_together([partial(work, index) for index in range(pods)])
    deadline = time.monotonic() + 600
    final = [
        promotion_wait(promotion=Promotion.objects.get(pk=pk), seconds=deadline - time.monotonic())
        for ids in submitted
        for pk in ids
    ]
    elapsed = time.perf_counter() - started
    committed = sum(p.status == Promotion.Status.COMMITTED for p in final)
    return counted(emulator, elapsed, committed, commits_on(emulator.url, full_name))


def per_file_round(emulator, pods: int, promotions: int, files: int) -> dict:
    full_name = f"bench/perfile-{pods}"
    emulator.create_repository(full_name)

    def work(index):
        repo = client(emulator.url).get_repo(full_name)
        for number in range(promotions):
            promote_per_file(repo, batch(index, number, files), f"pod {index} run {number}")

    emulator.reset_stats()
    elapsed = run_together([partial(work, index) for index in range(pods)])
    return counted(emulator, elapsed, pods * promotions, commits_on(emulator.url, full_name))


def push_files_round(emulator, pods: int, promotions: int, files: int) -> dict:
    """github-mcp-server's push_files per promotion: no retry, so a promotion whose ref
    update finds the branch moved is lost (GitHub's 422 "Update is not a fast forward")."""
    full_name = f"bench/push-files-{pods}"
    emulator.create_repository(full_name)
    landed = []

    def work(index):
        repo = client(emulator.url).get_repo(full_name)
        for number in range(promotions):
            try:
                push_files(repo, batch(index, number, files))
                landed.append(1)
            except GithubException:
                pass

    emulator.reset_stats()
    elapsed = run_together([partial(work, index) for index in range(pods)])
    return counted(emulator, elapsed, len(landed), commits_on(emulator.url, full_name))


def main():
    args = parse_args()
    emulator = GitHubEmulator(latency_ms=args.latency_ms).start()
    django_against(emulator.url, TOKEN, "bench_racing.sqlite3")
    try:
        with worker_cluster({**os.environ, "Q_WORKERS": str(args.workers)}):
            print(
                f"one branch, {args.promotions} promotions of {args.files} files per pod, emulator round trip "
                f"{args.latency_ms} ms, {args.workers} workers, database {os.environ['DATABASE_URL'].split(':')[0]}"
            )
            for commit_path in ("rest", "graphql"):  # warm up: the workers' first pick-up, GitHub's GraphQL schema
                patchgate_round(emulator, 1, 1, 1, commit_path, tag="warm-up")
            header = (
                f"{'pods':>5} {'promotions':>10} | {'approach':>17} {'landed':>6} {'rate':>9} {'reads/p':>7} "
                f"{'writes/p':>8} {'commits':>7} | {'per minute':>10} {'per hour':>8}"
            )
            print(header)
            print("-" * len(header))
            for pods in [int(n) for n in args.pods.split(",")]:
                rounds = {
                    "Patchgate REST": patchgate_round(emulator, pods, args.promotions, args.files, "rest"),
                    "Patchgate GraphQL": patchgate_round(emulator, pods, args.promotions, args.files, "graphql"),
                    "push_files": push_files_round(emulator, pods, args.promotions, args.files),
                    "per file": per_file_round(emulator, pods, args.promotions, args.files),
                }
                for approach, got in rounds.items():
                    landed = max(got["committed"], 1)
                    per_minute, per_hour = ceilings(got["writes"] / landed)
                    print(
                        f"{pods:>5} {pods * args.promotions:>10} | {approach:>17} {got['committed']:>6} "
                        f"{got['committed'] / got['seconds']:>5.1f} p/s "
                        f"{got['reads'] / landed:>7.1f} {got['writes'] / landed:>8.1f} {got['commits']:>7} | "
                        f"{per_minute:>10} {per_hour:>8}"
                    )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
