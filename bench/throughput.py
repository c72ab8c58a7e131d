"""Throughput and footprint, side by side in one run, printed as the Markdown table the
README keeps:

- accepting promotions: POST (3 files) and status-read throughput and latency at N
  concurrent clients (wrk), next to /healthz of the same server in the same run;
- memory: the web process's peak for one 50 MB promotion, and a status poll of it
  next to a small one's (time and memory);
- time to commit, POST with `wait` until the answer, next to the physical minimum:
  the same SCM operations timed directly (local backend, and the GitHub emulator with
  a realistic round trip);
- a fleet: 10 pods on 10 branches through Patchgate, next to each pod writing for
  itself the way GitHub's MCP server's push_files does (5 calls per commit).

    make bench                      # installs wrk (Debian's package) if missing, then this
    .venv/bin/python -m bench.throughput [--connections 50] [--seconds 10] [--latency-ms 75]

Needs wrk, PostgreSQL (--database-url: a role that may create databases; each phase
runs on a throwaway database, dropped afterwards) and Redis (--redis-url: use a
database number nothing else uses). The web server is `make run`'s (gunicorn, 2
workers x 12 threads), the worker django-q2's default cluster (2 processes), default
settings but a throttle rate wrk stays under. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import harness
from bench.per_file import client

SMALL_FILES = [
    {"path": "outputs/summary.md", "content": "# Summary\n"},
    {"path": "outputs/data.json", "content": '{"ok": true}\n'},
    {"path": "reasoning_trace.md", "content": "Reasoning.\n"},
]
SMALL_BODY = {"commit_message": "Add task outputs", "reasoning_trace": "Summarised the data.", "files": SMALL_FILES}
MB = 1024 * 1024
# GitHub's write limits count per credential, and so does Patchgate's write budget (kept in Redis
# across runs): every run, phase and approach writes with a token of its own.
TOKEN = f"bench-{os.getpid()}-{int(time.time())}"
FLEET = 10
GITHUB_REPOSITORIES = ["bench/commit", "bench/minimum", "bench/fleet", "bench/push-files"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50, help="concurrent clients of wrk")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--accept-rounds", type=int, default=5, help="wrk rounds of /healthz, POST and status")
    parser.add_argument("--phases", default="accept,memory,commit,fleet", help="which measurements to run")
    parser.add_argument("--latency-ms", type=float, default=75, help="the GitHub emulator's round trip")
    parser.add_argument("--commits", type=int, default=20, help="timed commits per backend")
    parser.add_argument("--rounds", type=int, default=2, help="fleet rounds per approach")
    parser.add_argument("--big-mb", type=int, default=50, help="size of the large promotion (decoded)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--fixtures", help=argparse.SUPPRESS)  # internal: create the accept phase's pods
    return parser.parse_args()


# --- HTTP as a pod ------------------------------------------------------------------


def call(url: str, key: str, body: dict | bytes | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, json.loads(response.read())


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# --- fixtures (through the services, as the admin and the commands make them) -------


def make_pods(repository_name: str, backend: str, count: int, **options) -> list[str]:
    from promotions.audit import Actor
    from promotions.services.access import pod_create, repository_register

    actor = Actor.system("bench")
    repository, _ = repository_register(full_name=repository_name, backend=backend, actor=actor)
    prefix = repository_name.replace("/", "-")
    return [
        pod_create(name=f"{prefix}-{i}", actor=actor, repositories=[repository], **options)[1] for i in range(count)
    ]


def write_accept_fixtures(path: str) -> None:
    """Run in a child process on the accept phase's own database."""
    import django

    django.setup()
    Path(path).write_text(json.dumps(make_pods("bench/accept", "local", 100)))


# --- the phases ---------------------------------------------------------------------


def accept_phase(args, env: dict[str, str]) -> dict:
    """POST and status reads under load next to /healthz, interleaved round by round (a
    shared machine's load moves; each figure is the median of its rounds). No worker
    runs: the queue fills, as in a burst."""
    with harness.throwaway_database(args.database_url, "patchgate_bench_accept") as url:
        env = {**env, "DATABASE_URL": url}
        with tempfile.NamedTemporaryFile(suffix=".json") as keys_file:
            command = [sys.executable, "-m", "bench.throughput", "--fixtures", keys_file.name]
            subprocess.run(command, cwd=harness.ROOT, env=env, check=True)
            keys = json.loads(Path(keys_file.name).read_text())
        with harness.web_server(env) as (base, _master):
            _, document = call(f"{base}/api/v1/promotions", keys[0], SMALL_BODY)
            status_url = f"{base}/api/v1/promotions/{document['id']}"
            post = harness.post_lua("/api/v1/promotions", json.dumps(SMALL_BODY), keys)
            runs: dict[str, list[dict]] = {"healthz": [], "post": [], "status": []}
            load = {"connections": args.connections, "seconds": args.seconds}
            harness.wrk(f"{base}/healthz", connections=args.connections, seconds=2)  # warm-up
            for _ in range(args.accept_rounds):
                runs["healthz"].append(harness.wrk(f"{base}/healthz", **load))
                runs["post"].append(harness.wrk(f"{base}/api/v1/promotions", script=post, **load))
                auth = {"Authorization": f"Bearer {keys[0]}"}
                runs["status"].append(harness.wrk(status_url, headers=auth, **load))
    return {name: _median_run(results) for name, results in runs.items()}


def _median_run(runs: list[dict]) -> dict:
    keys = ["rate", "p50", "p95", "p99", "errors", "non2xx"]
    return {key: statistics.median(run[key] for run in runs) for key in keys}


def big_body(megabytes: int) -> bytes:
    files = [
        {
            "path": f"outputs/big-{i}.bin",
            "encoding": "base64",
            "content": base64.b64encode(os.urandom(MB * 10)).decode(),
        }
        for i in range(megabytes // 10)
    ]
    return json.dumps({"commit_message": "A large promotion", "files": files}).encode()


def memory_phase(args, env: dict[str, str], big_key: str, small_key: str) -> dict:
    """Peak memory of the web process for one large promotion, and status polls of it
    next to a small one's. The large promotion waits for approval: no worker applies it."""
    body = big_body(args.big_mb)
    with harness.web_server(env) as (base, master):
        workers = harness.children(master.pid)
        small = [call(f"{base}/api/v1/promotions", small_key, SMALL_BODY)[1]["id"] for _ in range(8)]  # warms both
        for worker in workers:
            harness.reset_peak(worker)
        before = {worker: harness.memory(worker)[0] for worker in workers}
        seconds = timed(lambda: call(f"{base}/api/v1/promotions", big_key, body))
        peak = max(harness.memory(worker)[1] - before[worker] for worker in workers)
        big_id = call(f"{base}/api/v1/promotions?limit=1", big_key)[1]["results"][0]["id"]

        def polls(promotion_id: int, key: str) -> tuple[float, int]:
            for worker in workers:
                harness.reset_peak(worker)
            start = {worker: harness.memory(worker)[0] for worker in workers}
            times = [timed(lambda: call(f"{base}/api/v1/promotions/{promotion_id}", key)) for _ in range(100)]
            grown = max(harness.memory(worker)[1] - start[worker] for worker in workers)
            return statistics.median(times), grown

        polls(small[-1], small_key), polls(big_id, big_key)  # warm: what a first read costs once per process
        small_poll = polls(small[-1], small_key)
        big_poll = polls(big_id, big_key)
    return {"decoded": args.big_mb * MB, "body": len(body), "post_seconds": seconds, "peak": peak,
            "small_poll": small_poll, "big_poll": big_poll}  # fmt: skip


def minimum_commit(repository_name: str, number: int) -> float:
    """The same SCM operations the engine makes for a one-file promotion, timed directly
    (on GitHub the tree written while the tip is read, as the engine does once it has
    seen the branch)."""
    from promotions.models import Repository
    from promotions.scm import adapter_for
    from promotions.scm.port import NewCommit, TreeWrite

    def commit():
        scm = adapter_for(Repository.objects.get(full_name=repository_name))
        writes = [TreeWrite(f"runs/{number}.md", f"run {number}\n".encode())]
        head, _ = scm.read_tip("main", [writes[0].path], siblings=True, expected=writes)
        [sha] = scm.write_chain(head, [NewCommit(writes, "run", ("bench", "b@x.invalid"))])
        assert scm.compare_and_swap("main", head, sha)

    return timed(commit)


def commit_phase(args, base: str, env: dict[str, str], key: str, minimum_repository: str, accept_key: str) -> dict:
    """Median seconds from sending a one-file POST with `wait` to its answer, next to the
    physical minimum: the host's own work for the commit (the same SCM operations, timed
    directly) plus one round trip of a POST that only records (a pod whose promotions
    wait for approval). A cluster of its own, with a credential of its own (GitHub's
    write budget is per credential)."""

    def body(number: int, wait: int) -> dict:
        files = [{"path": f"runs/{number}.md", "content": f"run {number}\n"}]
        return {"commit_message": f"run {number}", "wait": wait, "files": files}

    def through_patchgate(number: int) -> float:
        answers = []
        seconds = timed(lambda: answers.append(call(f"{base}/api/v1/promotions", key, body(number, 10))))
        assert answers[0][1]["status"] == "committed", answers
        return seconds

    def minimum_host(number: int) -> float:
        return minimum_commit(minimum_repository, number)

    def accepted(number: int) -> float:
        return timed(lambda: call(f"{base}/api/v1/promotions", accept_key, body(number, 0)))

    ours: list[float] = []
    hosts: list[float] = []
    trips: list[float] = []
    with harness.worker_cluster({**env, "GITHUB_TOKEN": f"{TOKEN}-{minimum_repository.replace('/', '-')}"}):
        for number in range(2):  # warm: connections, the worker's first use of the adapter
            through_patchgate(-1 - number)
            minimum_commit(minimum_repository, -1 - number)
        # Interleaved, so that the machine's changing load weighs on both sides alike, each
        # from a still machine (the worker finishes its lane after our answer).
        for number in range(args.commits):
            for measure, times in ((through_patchgate, ours), (minimum_host, hosts), (accepted, trips)):
                time.sleep(0.05)
                times.append(measure(number))
    host, trip = statistics.median(hosts), statistics.median(trips)
    return {"patchgate": statistics.median(ours), "minimum": host + trip, "host": host, "round_trip": trip}


def fleet_files(pod: int, round_: int) -> list[tuple[str, str]]:
    return [(f"pods/{pod}/round-{round_}/file-{i}.md", f"pod {pod} round {round_} file {i}\n") for i in range(3)]


def push_files(repo, branch: str, files: list[tuple[str, str]], message: str) -> None:
    """GitHub's MCP server's push_files (pkg/github/repositories.go): read the ref and
    its commit, one tree on the commit's tree, one commit, move the ref."""
    from github import InputGitTreeElement

    ref = repo.get_git_ref(f"heads/{branch}")
    base = repo.get_git_commit(ref.object.sha)
    tree = repo.create_git_tree([InputGitTreeElement(p, "100644", "blob", content=c) for p, c in files], base.tree)
    ref.edit(repo.create_git_commit(message, tree, [base]).sha)


def fleet_phase(args, base: str, env: dict[str, str], keys: list[str], emulator_url: str) -> dict:
    """10 pods on 10 branches at once: through Patchgate (POST with wait, then polling
    its status_url if the answer came early), and each pod with push_files, round after
    round. One cluster, with a credential of its own, warmed by a round in which one pod
    writes; then --rounds rounds (2 by default: 2 x 30 writes stay inside GitHub's 80
    a minute, which Patchgate's default write budget keeps to and push_files does not)."""

    def pod_through_patchgate(index: int, files: list[dict], round_: int):
        def run():
            body = {"branch": f"fleet-{index}", "commit_message": f"round {round_}", "wait": 30, "files": files}
            _, document = call(f"{base}/api/v1/promotions", keys[index], body)
            while document["status"] not in ("committed", "no_changes", "conflict", "failed"):
                time.sleep(0.05)
                _, document = call(document["status_url"], keys[index])
            assert document["status"] in ("committed", "no_changes"), document

        return run

    def written(index: int, round_: int) -> list[dict]:
        return [{"path": path, "content": content} for path, content in fleet_files(index, round_)]

    def patchgate_round(round_: int, files=written) -> float:
        return harness.run_together([pod_through_patchgate(i, files(i, round_), round_) for i in range(FLEET)])

    repos = [client(emulator_url, f"{TOKEN}-push-files").get_repo("bench/push-files") for _ in range(FLEET)]

    def pod_pushing(index: int, round_: int):
        return lambda: push_files(repos[index], f"fleet-{index}", fleet_files(index, round_), f"round {round_}")

    ours, theirs = [], []
    with harness.worker_cluster({**env, "GITHUB_TOKEN": f"{TOKEN}-fleet"}):
        # Warm-up: the emulator validates each GraphQL query text once against GitHub's whole
        # schema (~30 ms of its CPU), a cost GitHub's servers never put on this machine. Every
        # pod reads paths shaped as a round's (no_changes), and one commits, so that the ref
        # update's text is known too (3 writes: the rounds stay inside the write budget).
        def warm_up(index: int, round_: int) -> list[dict]:
            if index == 0:
                return written(index, round_)
            return [{"path": path, "operation": "delete"} for path, _ in fleet_files(index, round_)]

        patchgate_round(-1, files=warm_up)
        for round_ in range(args.rounds):
            ours.append(patchgate_round(round_))
            theirs.append(harness.run_together([pod_pushing(i, round_) for i in range(FLEET)]))
    return {"patchgate": statistics.median(ours), "push_files": statistics.median(theirs), "rounds": [ours, theirs]}


def create_branches(emulator_url: str) -> None:
    for name in ("bench/fleet", "bench/push-files"):
        repo = client(emulator_url, f"{TOKEN}-branches").get_repo(name)
        head = repo.get_branch("main").commit.sha
        for index in range(FLEET):
            repo.create_git_ref(f"refs/heads/fleet-{index}", head)


# --- the run ------------------------------------------------------------------------


def table(args, results: dict[str, dict]) -> str:
    """The Markdown table of the phases that ran."""
    rows = [("measure", "Patchgate", "reference, same run", "ratio", "target")]
    if "accept" in results:
        healthz, post, status = (results["accept"][name] for name in ("healthz", "post", "status"))
        rows += [
            (f"POST 3 files, {args.connections} clients", _load(post), f"/healthz {_load(healthz)}",
             f"{post['rate'] / healthz['rate']:.3f}", ">= 0.25, p95 < 250 ms"),
            (f"GET status, {args.connections} clients", _load(status), "/healthz, as above",
             f"{status['rate'] / healthz['rate']:.3f}", ""),
        ]  # fmt: skip
    if "memory" in results:
        memory = results["memory"]
        mb, (small_time, small_grown), (big_time, big_grown) = (
            memory["decoded"] / MB,
            memory["small_poll"],
            memory["big_poll"],
        )
        rows += [
            (f"web peak memory, POST of {mb:.0f} MB",
             f"+{memory['peak'] / MB:.0f} MB, in {memory['post_seconds']:.1f} s",
             f"{mb:.0f} MB decoded ({memory['body'] / MB:.0f} MB body)", f"{memory['peak'] / memory['decoded']:.1f}x",
             "<= ~3x"),
            (f"status poll of the {mb:.0f} MB promotion", f"{big_time * 1000:.1f} ms, +{big_grown / MB:.0f} MB",
             f"small one {small_time * 1000:.1f} ms, +{small_grown / MB:.0f} MB", f"{big_time / small_time:.1f}x",
             "<= 2x"),
        ]  # fmt: skip
    if "local" in results:
        local = results["local"]
        rows.append(("time to commit, local (median)", _ms(local["patchgate"]), _minimum(local),
                     f"{local['patchgate'] / local['minimum']:.1f}x", "<= 2x"))  # fmt: skip
    if "github" in results:
        github, rtt = results["github"], args.latency_ms / 1000
        rows.append((f"time to commit, github at {args.latency_ms:.0f} ms (median)", _ms(github["patchgate"]),
                     _minimum(github),
                     f"{(github['patchgate'] - github['minimum']) / rtt:+.1f} round trips",
                     "<= +1 round trip"))  # fmt: skip
    if "fleet" in results:
        fleet = results["fleet"]
        ours, theirs = (", ".join(f"{seconds:.2f}" for seconds in rounds) for rounds in fleet["rounds"])
        rows.append((f"{FLEET} pods on {FLEET} branches, github (median of {args.rounds} rounds)",
                     f"{fleet['patchgate']:.2f} s ({ours})", f"push_files {fleet['push_files']:.2f} s ({theirs})",
                     f"{fleet['patchgate'] / fleet['push_files']:.3f}", "<= 1"))  # fmt: skip
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    return "\n".join(lines)


def _load(run: dict) -> str:
    errors = run["errors"] + run["non2xx"]
    text = f"{run['rate']:,.0f} /s, p50 {run['p50']:.0f} ms, p95 {run['p95']:.0f} ms"
    return text + (f", {errors:.0f} errors" if errors else "")


def _minimum(run: dict) -> str:
    return f"minimum {_ms(run['minimum'])}: the host {_ms(run['host'])} + a POST {_ms(run['round_trip'])}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main():
    args = parse_args()
    if args.fixtures:
        write_accept_fixtures(args.fixtures)
        return
    phases = set(args.phases.split(","))
    env = {
        **os.environ,
        "REDIS_URL": args.redis_url,
        "LOCAL_REPOS_DIR": tempfile.mkdtemp(prefix="patchgate-bench-"),
        "GITHUB_TOKEN": TOKEN,
        "THROTTLE_RATE": "1000000/min",  # wrk's clients stay under it; the throttle still counts
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    print(f"machine: {harness.machine()}; load average before: {harness.load_average()}", flush=True)
    queue = RedisQueue(args.redis_url)
    results: dict[str, dict] = {}
    with harness.emulator(GITHUB_REPOSITORIES) as emulator_url:
        env["GITHUB_API_URL"] = emulator_url
        if "accept" in phases:
            queue.clear()
            results["accept"] = accept_phase(args, env)
            queue.clear()  # the accept phase's lane tasks: their database is gone
            print(f"accept: {json.dumps(results['accept'])}", flush=True)
        with harness.throwaway_database(args.database_url, "patchgate_bench") as url:
            env["DATABASE_URL"] = url
            os.environ.update(env)
            import django

            django.setup()
            if "memory" in phases:
                big_key = make_pods("bench/big", "local", 1, require_approval=True)[0]
                results["memory"] = memory_phase(args, env, big_key, make_pods("bench/small", "local", 1)[0])
                print(f"memory: {json.dumps(results['memory'])}", flush=True)
            with harness.web_server(env) as (base, _master):
                accept_key = make_pods("bench/accepted", "local", 1, require_approval=True)[0]
                if "commit" in phases:
                    make_pods("bench/minimum-local", "local", 0)
                    local_key = make_pods("bench/commit-local", "local", 1)[0]
                    results["local"] = commit_phase(args, base, env, local_key, "bench/minimum-local", accept_key)
                    print(f"local: {json.dumps(results['local'])}", flush=True)
                harness.emulator_latency(emulator_url, args.latency_ms)
                if "commit" in phases:
                    make_pods("bench/minimum", "github", 0)
                    github_key = make_pods("bench/commit", "github", 1)[0]
                    results["github"] = commit_phase(args, base, env, github_key, "bench/minimum", accept_key)
                    print(f"github: {json.dumps(results['github'])}", flush=True)
                if "fleet" in phases:
                    create_branches(emulator_url)
                    keys = make_pods("bench/fleet", "github", FLEET)
                    results["fleet"] = fleet_phase(args, base, env, keys, emulator_url)
                    print(f"fleet: {json.dumps(results['fleet'])}", flush=True)
    print(
        f"\n{harness.machine()}, load average after: {harness.load_average()}; PostgreSQL + Redis; "
        f"gunicorn 2 workers x 12 threads, django-q2 2 workers; wrk {args.connections} connections, "
        f"{args.accept_rounds} rounds of {args.seconds} s\n"
    )
    print(table(args, results))


class RedisQueue:
    """django-q2's task list in the bench's Redis database."""

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url)

    def clear(self) -> None:
        self.client.delete("django_q:patchgate:q")


if __name__ == "__main__":
    main()
