"""How long the Pod activity reports take over 100,000 promotions.

    .venv/bin/python -m bench.report_queries [--promotions 100000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/patchgate .venv/bin/python -m bench.report_queries

Always on a throwaway SQLite file (var/bench_reports.sqlite3), and also on
PostgreSQL when DATABASE_URL is given (a `test_<name>` database, created and
dropped, the way the test suite does). Each backend runs in its own process
because Django reads its database settings once. Prints one line per report:
the median of several runs, in milliseconds.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQLITE_URL = f"sqlite:///{ROOT / 'var' / 'bench_reports.sqlite3'}"
PODS, REPOSITORIES, DAYS = 25, 5, 60
RUNS = 5
BATCH = 5000
# Roughly what a busy installation sees: mostly commits, some trouble.
STATUS_WEIGHTS = {
    "committed": 70,
    "no_changes": 8,
    "conflict": 8,
    "failed": 4,
    "pr_open": 3,
    "awaiting_approval": 2,
    "rejected": 1,
    "queued": 2,
    "retrying": 1,
    "applying": 1,
}
FILE_STATUS_OF = {
    "committed": ["created", "updated", "merged", "deleted"],
    "conflict": ["conflict", "skipped"],
    "failed": ["error", "skipped"],
    "no_changes": ["unchanged"],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promotions", type=int, default=100_000)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)  # set for the per-backend child process
    args = parser.parse_args()
    if args.database_url:
        return bench(args.database_url, args.promotions)
    targets = [SQLITE_URL] + ([os.environ["DATABASE_URL"]] if os.environ.get("DATABASE_URL") else [])
    for url in targets:
        command = [sys.executable, "-m", "bench.report_queries", f"--promotions={args.promotions}"]
        subprocess.run([*command, f"--database-url={url}"], check=True, cwd=ROOT)


def bench(database_url: str, count: int):
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    # Its own name, so it never meets a test run's database.
    throwaway = database_url.removeprefix("sqlite:///") if connection.vendor == "sqlite" else "bench_patchgate_reports"
    connection.settings_dict["TEST"]["NAME"] = throwaway
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        started = time.perf_counter()
        populate(count)
        print(f"{connection.vendor}: {count:,} promotions created in {time.perf_counter() - started:.0f} s")
        report_timings()
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


def populate(count: int):
    from django.utils import timezone

    from promotions.models import FileChange, Pod, Promotion, Repository

    rng = random.Random(7)
    repositories = Repository.objects.bulk_create(Repository(full_name=f"bench/repo{n}") for n in range(REPOSITORIES))
    pods = Pod.objects.bulk_create(Pod(name=f"pod-{n:02}") for n in range(PODS))
    statuses, weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    now = timezone.now()
    # The benchmark writes history: let created_at take the times given.
    Promotion._meta.get_field("created_at").auto_now_add = False
    for first in range(0, count, BATCH):
        promotions = []
        for _ in range(min(BATCH, count - first)):
            status = rng.choices(statuses, weights)[0]
            created = now - timedelta(seconds=rng.uniform(0, DAYS * 86400))
            finished = created + timedelta(seconds=rng.lognormvariate(2.5, 1)) if status in FILE_STATUS_OF else None
            promotions.append(
                Promotion(
                    pod=rng.choice(pods),
                    repository=rng.choice(repositories),
                    branch="main",
                    commit_message="bench",
                    status=status,
                    created_at=created,
                    finished_at=finished,
                )
            )
        Promotion.objects.bulk_create(promotions)
        FileChange.objects.bulk_create(
            FileChange(
                promotion=promotion,
                position=position,
                path=f"out/{position}.txt",
                content=b"x",
                status=rng.choice(FILE_STATUS_OF.get(promotion.status, ["pending"])),
            )
            for promotion in promotions
            for position in range(rng.randint(1, 3))
        )


def report_timings():
    from promotions import reports
    from promotions.models import FileChange, Repository

    print(f"  file changes: {FileChange.objects.count():,}")
    last_30_days = reports.Period.last_days()
    one_repository = reports.Period.last_days(repository=Repository.objects.first())
    cases = {
        "pods, last 30 days": lambda: reports.pod_figures(last_30_days),
        "pods, last 30 days, one repository": lambda: reports.pod_figures(one_repository),
        "pods, all 60 days": lambda: reports.pod_figures(reports.Period.last_days(DAYS)),
        "repositories, last 30 days": lambda: reports.repository_figures(last_30_days),
        "per day, last 30 days": lambda: reports.daily_outcomes(last_30_days),
    }
    for name, report in cases.items():
        timings, rows = [], None
        for _ in range(RUNS):
            started = time.perf_counter()
            rows = report()
            timings.append((time.perf_counter() - started) * 1000)
        print(f"  {name}: {statistics.median(timings):.0f} ms ({len(rows)} rows, median of {RUNS})")
    sample = reports.pod_figures(last_30_days)[0]
    print(
        f"  e.g. {sample['pod']}: {sample['promotions']} promotions, {sample['files_changed']} files changed, "
        f"median {sample['median_seconds_to_commit']} s, p95 {sample['p95_seconds_to_commit']} s to commit"
    )


if __name__ == "__main__":
    main()
