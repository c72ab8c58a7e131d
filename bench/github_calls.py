"""GitHub API calls and wall time of one batch of N text files, Patchgate's way
(the github adapter: one tree, one commit, one ref update) next to the per-file
way (read each file, PUT it with its sha), on the same emulator in one run, with a
realistic round trip.

    .venv/bin/python bench/github_calls.py [--files 1,23,100,500] [--latency-ms 75]

The batch goes through the adapter exactly as the engine drives it for a direct
promotion: branch head, one tree read, one commit, one compare-and-swap.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.per_file import TOKEN, client, commits_on, promote_per_file  # noqa: E402
from tests.fakegithub import FakeGitHub  # noqa: E402


def batch_files(count: int, version: int) -> list[tuple[str, str]]:
    return [(f"outputs/file{i:03}.md", f"version {version} of file {i}\n") for i in range(count)]


def measured(emulator: FakeGitHub, action) -> tuple[float, int]:
    emulator.reset_stats()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started, emulator.stats()["requests"]


def promote_batch(full_name: str, files: list[tuple[str, str]]) -> None:
    from promotions.scm.github import GitHubAdapter
    from promotions.scm.port import TreeWrite

    scm = GitHubAdapter(full_name)
    head = scm.branch_head("main")
    scm.read_entries(head, [path for path, _ in files])
    commit = scm.write_commit(head, [TreeWrite(p, c.encode()) for p, c in files], "batch", ("bench", "bench@example.invalid"))
    assert scm.compare_and_swap("main", head, commit)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="1,23,100,500", help="comma-separated batch sizes")
    parser.add_argument("--latency-ms", type=int, default=75, help="the emulator's round trip (50 to 100 is realistic)")
    args = parser.parse_args()

    emulator = FakeGitHub(latency_ms=args.latency_ms).start()
    os.environ.update(DJANGO_SETTINGS_MODULE="config.settings", GITHUB_API_URL=emulator.url, GITHUB_TOKEN=TOKEN)
    import django

    django.setup()
    print(f"one batch of N new text files, then the same N files changed (commits: total on the branch); round trip {args.latency_ms} ms")
    header = f"{'N':>4} {'write':>7} | {'batch calls':>11} {'time':>8} {'commits':>7} | {'per-file calls':>14} {'time':>8} {'commits':>7} | {'calls ratio':>11} {'time ratio':>10}"
    print(header)
    print("-" * len(header))
    try:
        for count in [int(n) for n in args.files.split(",")]:
            batch_repo, per_file_repo = f"bench/batch-{count}", f"bench/per-file-{count}"
            emulator.create_repository(batch_repo)
            emulator.create_repository(per_file_repo)
            repo = client(emulator.url).get_repo(per_file_repo)
            for version, label in [(1, "create"), (2, "update")]:
                files = batch_files(count, version)
                ours_time, ours_calls = measured(emulator, lambda: promote_batch(batch_repo, files))
                theirs_time, theirs_calls = measured(emulator, lambda: promote_per_file(repo, files, "per file"))
                print(
                    f"{count:>4} {label:>7} | {ours_calls:>11} {ours_time:>7.2f}s {commits_on(emulator.url, batch_repo):>7} | "
                    f"{theirs_calls:>14} {theirs_time:>7.2f}s {commits_on(emulator.url, per_file_repo):>7} | "
                    f"{theirs_calls / ours_calls:>10.1f}x {theirs_time / ours_time:>9.1f}x"
                )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
