"""The pods of bench.chaos, over HTTP like any client: each sends its promotions to
`main` and feature branches, and the mix a fleet sends: its own files, shared files
edited with `base_sha` (so that edits merge or conflict), create-only files, deletes,
150-file batches, an Idempotency-Key on every request (sent twice now and then) and
`wait`. A request that meets a dead web worker is sent again with the same key."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

SHARED_FILES = 3
SHARED_LINES = 24
CLAIMS = 8
BIG_BATCH = 150
RETRIES = 6


@dataclass
class Load:
    accepted: list[int] = field(default_factory=list)
    figures: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.figures[name] += by


def shared_text(index: int) -> str:
    return "".join(f"shared {index} line {line}\n" for line in range(SHARED_LINES))


def set_up(backend: str, pods: int, branches: list[str]):
    """The repository (its shared files on every branch) and the pods with their keys."""
    from promotions.audit import Actor
    from promotions.scm import adapter_for
    from promotions.scm.port import TreeWrite
    from promotions.services.access import pod_create, repository_register

    actor = Actor.command("chaos")
    full_name = "chaos/local" if backend == "local" else "acme/chaos"
    repository, _ = repository_register(full_name=full_name, backend=backend, actor=actor)
    scm = adapter_for(repository)
    head = scm.branch_head("main")
    assert head is not None
    writes = [TreeWrite(f"shared/notes-{i}.md", shared_text(i).encode()) for i in range(SHARED_FILES)]
    seeded = scm.write_commit(head, writes, "Shared notes", ("Chaos", "chaos@example.invalid"))
    assert scm.compare_and_swap("main", head, seeded)
    for branch in branches[1:]:
        scm.create_branch(branch, seeded)
    made = [pod_create(name=f"{backend}-pod-{i:02}", actor=actor, repositories=[repository]) for i in range(pods)]
    return repository, [(pod.name, key) for pod, key in made]


class Pod:
    def __init__(self, base_url: str, name: str, key: str, index: int, repository: str, branches, rng, load: Load):
        self.base_url, self.name, self.index, self.repository = base_url, name, index, repository
        self.branches, self.rng, self.load = branches, rng, load
        self.pause = 0.0
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.created: dict[str, set[str]] = {branch: set() for branch in branches}

    def run(self, promotions: int, deadline: float) -> None:
        for number in range(promotions):
            if time.monotonic() > deadline:
                self.load.count("promotions not sent (load timeout)", promotions - number)
                return
            branch = self.rng.choice(self.branches)
            kind = self.rng.choice(["own", "own", "shared", "shared", "create only", "delete", "big"])
            make = {
                "own": self.own_files,
                "shared": self.shared,
                "create only": self.create_only,
                "delete": self.delete,
            }
            body = make.get(kind, self.big)(branch, number)
            body.update(repository=self.repository, branch=branch, commit_message=f"{self.name} #{number}: {kind}")
            if self.rng.random() < 0.3:
                body["wait"] = 5
            key = f"{self.name}-{number}"
            promotion_id = self.post(body, key)
            if promotion_id is None:
                continue
            self.load.count(f"sent: {kind}")
            with self.load.lock:
                self.load.accepted.append(promotion_id)
            if self.rng.random() < 0.25:
                again = self.post(body, key)
                self.load.count("Idempotency-Key sent twice")
                if again != promotion_id:
                    self.load.count("second promotion for a replayed key")
            time.sleep(self.rng.uniform(0, self.pause))  # a pod thinks between promotions

    def own_files(self, branch: str, number: int) -> dict:
        path = f"pods/{self.name}/own-{number % 3}.txt"
        self.created[branch].add(path)
        return {"files": [{"path": path, "content": f"{self.name} {number}\n"}]}

    def shared(self, branch: str, number: int) -> dict:
        path = f"shared/notes-{self.rng.randrange(SHARED_FILES)}.md"
        current = self.read(path, branch)
        if current is None:
            return self.own_files(branch, number)
        lines = current["content"].splitlines(keepends=True)
        line = (self.index + number) % len(lines)
        lines[line] = f"{lines[line].rstrip()} | {self.name} #{number}\n"
        return {"files": [{"path": path, "content": "".join(lines), "base_sha": current["sha"]}]}

    def create_only(self, branch: str, number: int) -> dict:
        path = f"claims/claim-{self.rng.randrange(CLAIMS)}.txt"
        return {"files": [{"path": path, "content": f"claimed by {self.name}\n", "base_sha": None}]}

    def delete(self, branch: str, number: int) -> dict:
        if not self.created[branch]:
            return self.own_files(branch, number)
        path = self.created[branch].pop()
        current = self.read(path, branch)
        if current is None:
            return self.own_files(branch, number)
        return {"files": [{"path": path, "operation": "delete", "base_sha": current["sha"]}]}

    def big(self, branch: str, number: int) -> dict:
        files = [{"path": f"pods/{self.name}/big-{number}/f{i:03}.txt", "content": f"{i}\n"} for i in range(BIG_BATCH)]
        return {"files": files}

    def read(self, path: str, branch: str) -> dict | None:
        params = {"path": path, "branch": branch, "repository": self.repository}
        for attempt in range(RETRIES):
            try:
                answer = self.session.get(f"{self.base_url}/api/v1/files", params=params, timeout=30)
            except requests.ConnectionError:
                answer = None
            if answer is not None and answer.status_code in (200, 404):
                return answer.json() if answer.status_code == 200 else None
            self.load.count("reads sent again")
            time.sleep(0.2 * 2**attempt)
        return None

    def post(self, body: dict, key: str) -> int | None:
        """The promotion's id; sent again with the same key while the server is not there."""
        for attempt in range(RETRIES):
            try:
                answer = self.session.post(
                    f"{self.base_url}/api/v1/promotions", json=body, headers={"Idempotency-Key": key}, timeout=40
                )
            except requests.ConnectionError:
                answer = None
            if answer is not None and answer.status_code in (200, 202):
                return answer.json()["id"]
            if answer is not None and answer.status_code < 500 and answer.status_code != 429:
                self.load.count(f"refused with {answer.status_code}")
                return None
            self.load.count("requests sent again (a web worker died or answered 5xx)")
            time.sleep(0.2 * 2**attempt)
        self.load.count("promotions given up by their pod")
        return None


def run_pods(base_url, pods, repository, branches, promotions, seed, timeout, pause) -> Load:
    load = Load()
    deadline = time.monotonic() + timeout
    fleet = [
        Pod(base_url, name, key, index, repository, branches, random.Random(f"{seed}-{name}"), load)
        for index, (name, key) in enumerate(pods)
    ]
    for pod in fleet:
        pod.pause = pause
    with ThreadPoolExecutor(max_workers=len(fleet)) as pool:
        for done in [pool.submit(pod.run, promotions, deadline) for pod in fleet]:
            done.result()
    return load
