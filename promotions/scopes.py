"""Where a pod may write and read: its branch globs, its path allow and deny globs,
and the sensitive paths (CI configuration, `.git*` files, who reviews what, a
configurable list) that only an allow glob spelling them out grants. The
repository grant is checked before, by selectors.repository_for.

Globs are gitignore-like (promotions.globs): `*` stays in one segment, `**`
spans segments, a glob is anchored at the repository root. Deny and sensitive
globs match every spelling of a path (case, Unicode normalisation); allow and
branch globs match it exactly, so that each rule fails closed."""

from __future__ import annotations

import re

from django.conf import settings

from .globs import first_match, glob_lines, path_matches
from .models import Pod
from .validation import path_fold

# Code that runs with the repository's secrets, or changes how git treats files.
BUILTIN_SENSITIVE_PATH_GLOBS = (
    ".github/workflows/**",
    ".github/actions/**",
    ".gitlab-ci.yml",
    ".gitlab/**",
    ".circleci/**",
    ".buildkite/**",
    ".travis.yml",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    "appveyor.yml",
    ".appveyor.yml",
    ".drone.yml",
    ".woodpecker.yml",
    ".woodpecker/**",
    "Jenkinsfile",
    "**/.git*",
    # Who must review what, and which dependencies a bot may bump and how.
    "CODEOWNERS",
    ".github/CODEOWNERS",
    "docs/CODEOWNERS",
    ".github/dependabot.yml",
    ".github/dependabot.yaml",
)

_WILDCARD = re.compile(r"[*?]")


def sensitive_path_globs() -> list[str]:
    return [*BUILTIN_SENSITIVE_PATH_GLOBS, *settings.PATCHGATE["SENSITIVE_PATH_GLOBS"]]


def _literal_stem(glob: str) -> str:
    """The text a glob spells out before its first wildcard, past a leading `**/`:
    `.github/workflows/` for `.github/workflows/**`, `.git` for `**/.git*`."""
    glob = glob.removeprefix("**/")
    return _WILDCARD.split(glob, maxsplit=1)[0]


def _spells_out(allow_glob: str, sensitive_glob: str) -> bool:
    # At a segment start, so `**` or `*.yml` never count, nor `docs/my.github/**`.
    stem, allow_glob = path_fold(_literal_stem(sensitive_glob)), path_fold(allow_glob)
    return bool(stem) and (allow_glob.startswith(stem) or f"/{stem}" in allow_glob)


def path_problem(pod: Pod, path: str) -> str | None:
    """Why `pod` may not touch `path`, or None when it may."""
    denied_by = first_match(glob_lines(pod.denied_path_globs), path)
    if denied_by:
        return f"'{path}' is denied to this pod (deny glob {denied_by!r})"
    allowed = glob_lines(pod.allowed_path_globs)
    if allowed and first_match(allowed, path, folded=False) is None:
        return f"'{path}' is outside this pod's allowed paths ({', '.join(allowed)})"
    if first_match(sensitive_path_globs(), path) is None:
        return None
    for sensitive in sensitive_path_globs():
        granted = any(_spells_out(glob, sensitive) and path_matches(glob, path, folded=False) for glob in allowed)
        if path_matches(sensitive, path) and not granted:
            return f"'{path}' is a sensitive path ({sensitive}): only an allow glob naming it grants it"
    return None


def branch_problem(pod: Pod, branch: str) -> str | None:
    """Why `pod` may not use `branch`, or None; no branch globs: any branch."""
    globs = glob_lines(pod.branch_globs)
    if globs and first_match(globs, branch, folded=False) is None:
        return f"branch '{branch}' is outside this pod's branches ({', '.join(globs)})"
    return None


def scope_errors(pod: Pod, branch: str, paths_by_field: dict[str, str]) -> dict[str, list[str]]:
    """The one scope check of writes and reads, before anything is stored or read:
    {field: [why]} for the branch and each path (keyed by its request field) out of scope."""
    errors = {}
    problem = branch_problem(pod, branch)
    if problem:
        errors["branch"] = [problem]
    for field, path in paths_by_field.items():
        problem = path_problem(pod, path)
        if problem:
            errors[field] = [problem]
    return errors
