"""Repository rulesets (https://docs.github.com/rest/repos/rules): create, list and
read a repository's rulesets, list the rules that apply to a branch, and refuse, as
GitHub does, a ref update or a contents write that would put an unsigned commit on a
branch whose active ruleset has a `required_signatures` rule. Other rule types are
stored and listed, not enforced.

GitHub's refusal: "Repository rule violations found\\n\\nCommits must have verified
signatures.\\n\\n", with 422 on a reference update or creation (answered to octokit as
"Repository rule violations found Changes must be made through a pull request. -
https://docs.github.com/rest/git/refs#update-a-reference",
satisfactory-factories/application#67) and 409 on a contents write (GitHub's OpenAPI
description: 409 `repository-rule-violation-error` for PUT contents; "rejected with
409 Repository rule violations found — Commits must have verified signatures",
grafana/pyroscope-dotnet#386). A commit is checked when it is new to the ref (not
reachable from the ref's value before), as git pushes are ("GH013 ... Found 1
violation", github/gh-aw#29301).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from dulwich.objects import Commit

from . import shapes, signing
from .core import Call, not_supplied
from .store import Refused, Repository, now

ENFORCEMENTS = ("disabled", "active", "evaluate")
TARGETS = ("branch", "tag", "push")
RULE_TYPES = {
    "creation",
    "update",
    "deletion",
    "required_linear_history",
    "required_deployments",
    "required_signatures",
    "pull_request",
    "required_status_checks",
    "non_fast_forward",
    "commit_message_pattern",
    "commit_author_email_pattern",
    "committer_email_pattern",
    "branch_name_pattern",
    "tag_name_pattern",
}
VIOLATION = "Repository rule violations found\n\n{rule}\n\n"
UNSIGNED_COMMITS = "Commits must have verified signatures."


@dataclass
class Ruleset:
    id: int
    name: str
    target: str
    enforcement: str
    include: list[str]
    exclude: list[str]
    rules: list[dict]
    bypass_actors: list[dict] = field(default_factory=list)
    created_at: datetime = field(default_factory=now)

    def applies_to(self, repo: Repository, branch: str) -> bool:
        ref = f"refs/heads/{branch}"
        return (
            self.target == "branch"
            and self.enforcement == "active"
            and any(_matches(repo, pattern, ref) for pattern in self.include)
            and not any(_matches(repo, pattern, ref) for pattern in self.exclude)
        )


def _matches(repo: Repository, pattern: str, ref: str) -> bool:
    """GitHub's ref name patterns: `~ALL`, `~DEFAULT_BRANCH`, or fnmatch-style globs
    where `*` stays within a path segment and `**` crosses them."""
    if pattern == "~ALL":
        return True
    if pattern == "~DEFAULT_BRANCH":
        return ref == f"refs/heads/{repo.default_branch}"
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    wildcards = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.fullmatch("".join(wildcards.get(part, re.escape(part)) for part in parts), ref) is not None


def requires_signatures(repo: Repository, branch: str) -> bool:
    return any(
        rule.get("type") == "required_signatures"
        for ruleset in repo.rulesets
        if ruleset.applies_to(repo, branch)
        for rule in ruleset.rules
    )


def check_new_commits(repo: Repository, ref: str, old: str | None, new: str, status: int) -> None:
    """Refuse moving `ref` from `old` to `new` when a required_signatures rule applies to
    it and a commit new to the ref is not verified. For a new ref, commits already on
    another branch are not new. Called with the repository's lock held."""
    if not ref.startswith("refs/heads/") or not requires_signatures(repo, ref.removeprefix("refs/heads/")):
        return
    if repo.kind_of(new) != "commit":
        return
    known = [old] if old else [sha for name, sha in repo.refs("refs/heads/").items() if name != ref]
    seen = _reachable(repo, known)
    pending = [new]
    while pending:
        sha = pending.pop()
        if sha in seen:
            continue
        seen.add(sha)
        commit = repo.object(sha)
        assert isinstance(commit, Commit)
        if not signing.is_verified(commit):
            raise Refused(status, VIOLATION.format(rule=UNSIGNED_COMMITS))
        pending.extend(parent.decode() for parent in commit.parents)


def _reachable(repo: Repository, starts: list[str]) -> set[str]:
    seen: set[str] = set()
    pending = list(starts)
    while pending:
        sha = pending.pop()
        if sha not in seen:
            seen.add(sha)
            commit = repo.object(sha)
            assert isinstance(commit, Commit)
            pending.extend(parent.decode() for parent in commit.parents)
    return seen


# --- the endpoints -----------------------------------------------------------------


def _ruleset_from(call: Call, ruleset_id: int) -> Ruleset:
    body = call.body
    name, enforcement = call.required("name"), call.required("enforcement")
    target = body.get("target", "branch")
    if not isinstance(name, str) or not name.strip():
        raise Refused(422, "Invalid request.\n\nInvalid property /name: is not of type `string`.")
    if enforcement not in ENFORCEMENTS:
        raise Refused(
            422, f"Invalid request.\n\nInvalid property /enforcement: `{enforcement}` is not a valid enum value."
        )
    if target not in TARGETS:
        raise Refused(422, f"Invalid request.\n\nInvalid property /target: `{target}` is not a valid enum value.")
    ref_name = (body.get("conditions") or {}).get("ref_name") or {}
    include, exclude = ref_name.get("include", []), ref_name.get("exclude", [])
    if not all(isinstance(item, str) for item in [*include, *exclude]):
        raise Refused(422, "Invalid request.\n\nInvalid property /conditions/ref_name: is not of type `string`.")
    rules = body.get("rules") or []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or rule.get("type") not in RULE_TYPES:
            raise not_supplied(f"rules[{index}].type")
    return Ruleset(ruleset_id, name, target, enforcement, list(include), list(exclude), rules)


def ruleset_shape(call: Call, repo: Repository, ruleset: Ruleset) -> dict:
    """GitHub's `repository-ruleset`."""
    self_url = call.urls.repo(repo, f"/rulesets/{ruleset.id}")
    return {
        "id": ruleset.id,
        "name": ruleset.name,
        "target": ruleset.target,
        "source_type": "Repository",
        "source": repo.full_name,
        "enforcement": ruleset.enforcement,
        "bypass_actors": ruleset.bypass_actors,
        "current_user_can_bypass": "never",
        "node_id": shapes.node_id("RepositoryRuleset", ruleset.id),
        "_links": {"self": {"href": self_url}, "html": {"href": call.urls.html(repo, f"/rules/{ruleset.id}")}},
        "conditions": {"ref_name": {"include": ruleset.include, "exclude": ruleset.exclude}},
        "rules": ruleset.rules,
        "created_at": shapes.iso(ruleset.created_at),
        "updated_at": shapes.iso(ruleset.created_at),
    }


def create_ruleset(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo)
    ruleset = _ruleset_from(call, call.emulator.next_id())
    with found.lock:
        if any(existing.name == ruleset.name for existing in found.rulesets):
            raise Refused(
                422,
                "Validation Failed",
                [{"resource": "Ruleset", "code": "custom", "field": "name", "message": "Name must be unique"}],
            )
        found.rulesets.append(ruleset)
    return 201, ruleset_shape(call, found, ruleset)


def list_rulesets(call: Call, owner: str, repo: str):
    found = call.repo(owner, repo)
    page, headers = call.page([ruleset_shape(call, found, ruleset) for ruleset in found.rulesets])
    return 200, page, headers


def get_ruleset(call: Call, owner: str, repo: str, ruleset_id: str):
    found = call.repo(owner, repo)
    ruleset = next((r for r in found.rulesets if str(r.id) == ruleset_id), None)
    if ruleset is None:
        raise Refused(404, "Not Found")
    return 200, ruleset_shape(call, found, ruleset)


def branch_rules(call: Call, owner: str, repo: str, branch: str):
    """Every rule of an active ruleset that applies to the branch, whether or not the
    branch exists (GitHub answers for a name, not for a ref)."""
    found = call.repo(owner, repo)
    info = {"ruleset_source_type": "Repository", "ruleset_source": found.full_name}
    rules = [
        {**rule, **info, "ruleset_id": ruleset.id}
        for ruleset in found.rulesets
        if ruleset.applies_to(found, branch)
        for rule in ruleset.rules
    ]
    page, headers = call.page(rules)
    return 200, page, headers
