"""A lane's branch that does not exist yet: a promotion naming `base_branch` builds on
that base's head, and the branch is created with the train's commit (one write, in
place of the compare-and-swap). Submission refused any other missing branch; one
deleted since fails its promotions as before."""

from __future__ import annotations

from ..models import Promotion, Repository
from ..scm.port import ScmNotFound, ScmPort, ScmRejected


def starting_point(scm: ScmPort, repository: Repository, branch: str, train: list[Promotion]) -> tuple[str, bool]:
    """(the commit to build on, whether `branch` must be created): the branch's head, or
    for a missing branch the head of the first base_branch the train names. Raises
    ScmNotFound when neither exists."""
    head = scm.branch_head(branch)
    if head is not None:
        return head, False
    base = next((promotion.base_branch for promotion in train if promotion.base_branch), "")
    base_head = scm.branch_head(base) if base else None
    if base_head is None:
        also = f", nor its base_branch {base}" if base else ""
        raise ScmNotFound(f"branch {branch} not found in {repository.full_name}{also}")
    return base_head, True


def create_branch_at(scm: ScmPort, branch: str, sha: str) -> bool:
    """Create `branch` at `sha`; False when someone created it meanwhile (the caller
    reads it again, as when a branch moved)."""
    try:
        scm.create_branch(branch, sha)
    except ScmRejected:
        if scm.branch_head(branch) is None:
            raise  # refused for another reason than existing
        return False
    return True
