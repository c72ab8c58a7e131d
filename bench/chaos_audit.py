"""The audit of bench.chaos: every branch's history read back from the host and held
against the database. Exactly once means no duplicate commit (two commits carrying
one Promotion-Id), no missing commit (a promotion recorded `committed` whose commit is
not on its branch), no commit of a promotion not recorded `committed`, no lost update
(a `base_sha` write that replaced anything but that base; each merge recomputed with
git merge-file), file rows matching each commit's diff, and every accepted promotion
final, none failed."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

# The figures that must be 0.
BROKEN = [
    "duplicate commits",
    "missing commits",
    "commits of a promotion not recorded committed",
    "lost updates",
    "file rows not matching the commit",
    "merge commits (history not linear)",
    "order inversions (a later id landed first)",
    "second promotion for a replayed key",
    "stuck",
    "failed",
]
WRITTEN = {"created", "updated", "merged", "deleted"}


def wait_until_final(ids: list[int], cap: float) -> tuple[float, list[int]]:
    """Seconds until every promotion is final (at most `cap`), and those that are not."""
    from promotions.models import Promotion

    started = time.monotonic()
    while True:
        open_ids = list(
            Promotion.objects.filter(pk__in=ids)
            .exclude(status__in=Promotion.FINAL_STATUSES)
            .values_list("pk", flat=True)
        )
        if not open_ids or time.monotonic() - started > cap:
            return time.monotonic() - started, open_ids
        time.sleep(0.2)


def describe_stuck(ids: list[int]) -> list[str]:
    """What the first promotions still open show, and their lanes, to see why."""
    from promotions.models import BranchLane, Promotion

    lines = []
    for p in Promotion.objects.filter(pk__in=ids).order_by("id")[:12]:
        lines.append(
            f"#{p.pk} {p.branch} {p.status} attempts={p.attempts} errors={p.transient_errors} "
            f"not_before={p.not_before} last_error={p.last_error[:160]!r}"
        )
    for lane in BranchLane.objects.all():
        lines.append(f"lane {lane}: owner={lane.lease_owner!r} until={lane.lease_until} woken={lane.woken_at}")
    return lines


def describe_failures(ids: list[int]) -> list[str]:
    from promotions.models import Promotion

    failed = Promotion.objects.filter(pk__in=ids, status=Promotion.Status.FAILED)
    errors = Counter(failed.values_list("last_error", flat=True))
    return [f"{count} x {error[:300]!r}" for error, count in errors.most_common(8)]


def history(repository, branch: str) -> list[tuple[str, str, list[str]]]:
    """(sha, message, parent shas) of every commit on the branch, newest first."""
    from promotions.scm import adapter_for

    scm: Any = adapter_for(repository)  # each adapter's own client, beyond the port
    if repository.backend == "github":
        return [(c.sha, c.commit.message, [p.sha for p in c.parents]) for c in scm.repo.get_commits(sha=branch)]
    walker = scm.repo.get_walker(include=[scm.branch_head(branch).encode()])
    return [(e.commit.id.decode(), e.commit.message.decode(), [p.decode() for p in e.commit.parents]) for e in walker]


def audit(repository, branches: list[str], load, stuck: list[int]) -> Counter:
    from promotions.engine.messages import promotion_ids_in
    from promotions.models import Promotion

    figures: Counter = Counter({name: 0 for name in BROKEN})
    figures["stuck"] = len(stuck)
    figures["second promotion for a replayed key"] = load.figures["second promotion for a replayed key"]
    promotions = {p.pk: p for p in Promotion.objects.filter(pk__in=load.accepted).prefetch_related("files")}
    landed: dict[int, list[tuple[str, str]]] = defaultdict(list)
    parents: dict[str, str] = {}
    for branch in branches:
        commits = history(repository, branch)
        figures["merge commits (history not linear)"] += sum(len(shas) > 1 for _, _, shas in commits)
        parents.update((sha, shas[0]) for sha, _, shas in commits if shas)
        order = [pid for sha, message, _ in reversed(commits) for pid in sorted(promotion_ids_in(message))]
        figures["order inversions (a later id landed first)"] += sum(
            a > b for a, b in zip(order, order[1:], strict=False)
        )
        for sha, message, _ in commits:
            for pid in promotion_ids_in(message):
                landed[pid].append((branch, sha))
    figures["duplicate commits"] = sum(len(commits) - 1 for commits in landed.values())
    for promotion in promotions.values():
        figures[f"status {promotion.status}"] += 1
        figures["failed"] += promotion.status == Promotion.Status.FAILED
        on_branch = [sha for branch, sha in landed.get(promotion.pk, []) if branch == promotion.branch]
        if promotion.status == Promotion.Status.COMMITTED:
            if promotion.commit_sha not in on_branch:
                figures["missing commits"] += 1
            else:
                check_files(repository, promotion, parents[promotion.commit_sha], figures)
        elif on_branch:
            figures["commits of a promotion not recorded committed"] += 1
    return figures


def check_files(repository, promotion, parent: str, figures: Counter) -> None:
    """Each file row against the commit: what it says it did is what the commit did,
    and a write made from a base replaced that base or merged with what was there."""
    from promotions.merge import blob_sha, three_way_merge
    from promotions.scm import adapter_for

    scm = adapter_for(repository)
    files = list(promotion.files.all())
    paths = [f.path for f in files]
    before, after = scm.read_entries(parent, paths), scm.read_entries(promotion.commit_sha, paths)
    changed = set(scm.commit_diffs(promotion.commit_sha))
    if changed != {f.path for f in files if f.status in WRITTEN}:
        figures["file rows not matching the commit"] += 1
    for change in files:
        old = before[change.path].sha if change.path in before else None
        new = after[change.path].sha if change.path in after else None
        expected = {
            "created": (None, change.new_sha),
            "updated": (change.old_sha, change.new_sha),
            "merged": (change.old_sha, change.new_sha),
            "deleted": (change.old_sha, None),
        }.get(change.status, (old, old))
        if (old, new) != expected:
            figures["file rows not matching the commit"] += 1
        if not change.base_given or change.status not in WRITTEN:
            continue
        figures["base_sha writes rechecked"] += 1
        if change.base_sha is None:
            figures["lost updates"] += old is not None
        elif change.status == "merged":
            figures["merges recomputed"] += 1
            merged = three_way_merge(scm.read_blob(change.base_sha), scm.read_blob(old or ""), bytes(change.content))
            figures["lost updates"] += not merged.clean or blob_sha(merged.content) != new
        else:
            figures["lost updates"] += old != change.base_sha


def print_report(results: list[dict], args, branches: int) -> None:
    print(
        f"\nChaos run: {args.pods} pods x {args.promotions} promotions per backend over {branches} branches; "
        f"{args.clusters} qclusters x {args.workers} workers, PostgreSQL + Redis, gunicorn with 2 workers\n"
    )
    names = sorted({name for result in results for name in result if name != "backend"}, key=_order)
    print("| figure | " + " | ".join(result["backend"] for result in results) + " |")
    print("|---|" + "---|" * len(results))
    for name in names:
        cells = [_cell(result.get(name, 0)) for result in results]
        print(f"| {name} | " + " | ".join(cells) + " |")


def _order(name: str) -> tuple[int, str]:
    return (BROKEN.index(name) if name in BROKEN else len(BROKEN), name)


def _cell(value) -> str:
    return f"{value:.1f} s" if isinstance(value, float) else str(value)
