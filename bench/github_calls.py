"""GitHub API reads, writes and wall time of one batch of N text files, four ways, on
the same emulator in one run with a realistic round trip, and the ceiling each gives
under GitHub's secondary limit on content-creating requests (about 80 a minute and
500 an hour: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):

- Patchgate, REST path: the github adapter as the engine drives it for a direct
  promotion (the branch's head, tree and touched paths in one read, one tree, one
  commit, one ref update by GraphQL's updateRefs);
- Patchgate, GraphQL path: the same reads, then one createCommitOnBranch;
- push_files: github-mcp-server's way (GET ref, GET commit, POST tree with inline
  content, POST commit, PATCH ref without force; no per-file sha, no retry);
- per file: read each file, then PUT it with its sha (one commit per file).

    .venv/bin/python -m bench.github_calls [--files 1,23,100,500] [--latency-ms 75]
"""

import argparse
import time

from bench.harness import django_against
from bench.per_file import TOKEN, client, commits_on, promote_per_file
from github_emulator import GitHubEmulator

# GitHub's secondary limit on content-creating requests, per credential.
WRITES_PER_MINUTE, WRITES_PER_HOUR = 80, 500
APPROACHES = ["Patchgate REST", "Patchgate GraphQL", "push_files", "per file"]


def batch_files(count: int, version: int) -> list[tuple[str, str]]:
    return [(f"outputs/file{i:03}.md", f"version {version} of file {i}\n") for i in range(count)]


def measured(emulator: GitHubEmulator, action, *args) -> dict:
    emulator.reset_stats()
    started = time.perf_counter()
    action(*args)
    seconds = time.perf_counter() - started
    stats = emulator.stats()
    return {"seconds": seconds, "reads": stats["requests"] - stats["writes"], "writes": stats["writes"]}


def promote_batch(full_name: str, files: list[tuple[str, str]], commit_path: str) -> None:
    from promotions.scm.github.adapter import GitHubAdapter
    from promotions.scm.port import NewCommit, TreeWrite

    scm = GitHubAdapter(full_name, commit_path)
    tip = scm.read_tip("main", [path for path, _ in files], siblings=True)  # as the engine reads
    assert tip is not None
    head = tip[0]
    commit = NewCommit([TreeWrite(p, c.encode()) for p, c in files], "batch", ("bench", "bench@example.invalid"))
    if commit_path == "graphql":
        assert scm.commit_onto_branch("main", head, [commit])
    else:
        sha = scm.write_chain(head, [commit])[0]
        assert scm.compare_and_swap("main", head, sha)


def push_files(repo, files: list[tuple[str, str]]) -> None:
    """github-mcp-server's push_files: the ref, its commit, one tree (mode forced
    100644), one commit, the ref moved without force (an error when it moved)."""
    from github import InputGitTreeElement

    ref = repo.get_git_ref("heads/main")
    base = repo.get_git_commit(ref.object.sha)
    tree = repo.create_git_tree([InputGitTreeElement(p, "100644", "blob", content=c) for p, c in files], base.tree)
    commit = repo.create_git_commit("push_files", tree, [base])
    ref.edit(commit.sha, force=False)


def promote(approach: str, full_name: str, repo, files: list[tuple[str, str]]) -> None:
    if approach == "push_files":
        push_files(repo, files)
    elif approach == "per file":
        promote_per_file(repo, files, "per file")
    else:
        promote_batch(full_name, files, "graphql" if approach.endswith("GraphQL") else "rest")


def ceilings(writes: float) -> tuple[str, str]:
    """Promotions a minute and an hour under GitHub's content-creation limit."""
    if not writes:
        return "-", "-"
    return _figure(WRITES_PER_MINUTE / writes), _figure(WRITES_PER_HOUR / writes)


def _figure(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="1,23,100,500", help="comma-separated batch sizes")
    parser.add_argument("--latency-ms", type=int, default=75, help="the emulator's round trip (50 to 100 is realistic)")
    args = parser.parse_args()

    emulator = GitHubEmulator(latency_ms=args.latency_ms).start()
    django_against(emulator.url, TOKEN, "bench_calls.sqlite3")
    for commit_path in ("rest", "graphql"):  # warm up: connections, GitHub's GraphQL schema
        emulator.create_repository(f"bench/warm-up-{commit_path}")
        promote_batch(f"bench/warm-up-{commit_path}", batch_files(1, 1), commit_path)
    print(
        f"one batch of N text files created, then the same N changed; round trip {args.latency_ms} ms; ceilings: "
        f"promotions under {WRITES_PER_MINUTE} writes a minute and {WRITES_PER_HOUR} an hour"
    )
    header = (
        f"{'N':>4} {'batch':>7} {'approach':>18} | {'reads':>5} {'writes':>6} {'time':>7} {'commits':>7} | "
        f"{'per minute':>10} {'per hour':>8}"
    )
    print(header)
    print("-" * len(header))
    try:
        for count in [int(n) for n in args.files.split(",")]:
            names = {approach: f"bench/{approach.lower().replace(' ', '-')}-{count}" for approach in APPROACHES}
            for full_name in names.values():
                emulator.create_repository(full_name)
            repos = {a: client(emulator.url).get_repo(names[a]) for a in ("push_files", "per file")}
            for version, label in [(1, "create"), (2, "update")]:
                files = batch_files(count, version)
                for approach in APPROACHES:
                    got = measured(emulator, promote, approach, names[approach], repos.get(approach), files)
                    per_minute, per_hour = ceilings(got["writes"])
                    print(
                        f"{count:>4} {label:>7} {approach:>18} | {got['reads']:>5} {got['writes']:>6} "
                        f"{got['seconds']:>6.2f}s {commits_on(emulator.url, names[approach]):>7} | "
                        f"{per_minute:>10} {per_hour:>8}"
                    )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
