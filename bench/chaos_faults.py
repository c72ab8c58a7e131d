"""The chaos of bench.chaos: qcluster process groups killed with kill -9 every 2 to 4 s
(a random one, the one holding a lane, or the one whose lane just moved its branch),
a web worker killed now and then, and transient faults the GitHub emulator injects
through its /_emulator/faults control."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import requests

# The REST path's ref update: GraphQL's updateRefs.
UPDATE_REFS = {"method": "POST", "path": "/graphql$", "query": "updateRefs"}
# Every one transient: a deployment must lose and fail nothing through them.
TRANSIENT_FAULTS: list[dict[str, Any]] = [
    {"kind": "status", "status": 502, "method": "POST", "path": "/git/commits$"},
    {"kind": "status", "status": 503, "method": "POST", "path": "/git/trees$"},
    {"kind": "status", "status": 500, "method": "GET", "path": "/branches/"},
    {"kind": "status", "status": 502, **UPDATE_REFS},
    {"kind": "status", "status": 502, "method": "GET", "path": "/commits$"},
    {"kind": "status", "status": 502, "method": "POST", "path": "/graphql$"},
    {"kind": "drop_after_write", **UPDATE_REFS},
    {"kind": "drop_after_write", "method": "POST", "path": "/git/commits$"},
    {"kind": "hang", "seconds": 4, "method": "GET", "path": "/git/trees/"},
    {"kind": "hang", "seconds": 4, **UPDATE_REFS},
    {"kind": "secondary_rate_limit", "retry_after": 1, "method": "POST", "path": "/git/trees$"},
]
WEB_WORKER_KILLS = 1


def inject_faults(emulator_url: str, rng: random.Random, stop: threading.Event, figures: Counter) -> None:
    """One transient fault about every second, each firing once."""
    while not stop.wait(rng.uniform(0.5, 1.5)):
        fault = rng.choice(TRANSIENT_FAULTS)
        requests.post(f"{emulator_url}/_emulator/faults", json=fault, timeout=5).raise_for_status()
        figures[f"fault {fault['kind']}"] += 1


class Chaos:
    """Kills while the pods submit. A lane's holder is found by its lease owner,
    `host:pid:token`, and its qcluster by the process group of that pid."""

    def __init__(self, fleet, repository, branches: list[str], head_of, rng: random.Random, stop: threading.Event):
        self.fleet, self.repository, self.branches, self.rng, self.stop = fleet, repository, branches, rng, stop
        self.head_of = head_of
        self.figures: Counter = Counter()

    def run(self) -> None:
        from django.db import connections

        try:
            while not self.stop.wait(self.rng.uniform(2, 4)):
                aim = self.rng.choice(["random", "holding a lane", "right after a ref moved"])
                index = self._target(aim)
                if index is None:
                    aim, index = "random", self.rng.randrange(len(self.fleet.clusters))
                self.fleet.kill_cluster(index, restart_after=self.rng.uniform(0, 1))
                self.figures[f"qcluster kill -9, {aim}"] += 1
                if self.figures["web worker kill -9"] < WEB_WORKER_KILLS and self.rng.random() < 0.2:
                    self.figures["web worker kill -9"] += self.fleet.kill_web_worker()
        finally:
            connections.close_all()

    def _target(self, aim: str) -> int | None:
        deadline = time.monotonic() + 1.5
        heads = self._heads() if aim == "right after a ref moved" else {}
        while aim != "random" and time.monotonic() < deadline and not self.stop.is_set():
            if aim == "holding a lane":
                index = self._holder_of(None)
            else:
                moved = [branch for branch, head in self._heads().items() if head != heads.get(branch)]
                index = self._holder_of(moved[0]) if moved else None
            if index is not None:
                return index
            time.sleep(0.02)
        return None

    def _holder_of(self, branch: str | None) -> int | None:
        from django.utils import timezone

        from promotions.models import BranchLane

        lanes = BranchLane.objects.filter(repository=self.repository, lease_until__gt=timezone.now())
        if branch is not None:
            lanes = lanes.filter(branch=branch)
        for owner in lanes.exclude(lease_owner="").values_list("lease_owner", flat=True):
            index = self.fleet.cluster_of(int(owner.split(":")[1]))
            if index is not None:
                return index
        return None

    def _heads(self) -> dict[str, str | None]:
        return {branch: self.head_of(branch) for branch in self.branches}


def local_heads(repository):
    from promotions.scm import adapter_for

    scm = adapter_for(repository)
    return scm.branch_head


def github_heads(emulator_url: str, token: str, full_name: str):
    """Read through a route no injected fault targets, so that watching consumes none."""
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"

    def head_of(branch: str) -> str | None:
        answer = session.get(f"{emulator_url}/repos/{full_name}/git/ref/heads/{branch}", timeout=5)
        return answer.json()["object"]["sha"] if answer.status_code == 200 else None

    return head_of
