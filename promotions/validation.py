"""Rules for names: repositories, file paths inside a repository and branch names."""

import re

from dulwich.refs import check_ref_format

# GitHub's own rule for owners and repository names; it also keeps a local
# repository's folder inside LOCAL_REPOS_DIR.
REPOSITORY_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")

MAX_PATH_LENGTH = 1024
MAX_SEGMENT_LENGTH = 255


def repository_name_problem(full_name: str) -> str | None:
    """Why `full_name` is not OWNER/NAME, or None."""
    if not REPOSITORY_NAME.fullmatch(full_name) or any(part in (".", "..") for part in full_name.split("/")):
        return "must be OWNER/NAME (letters, digits, '-', '_' and '.'; not '.' or '..')"
    return None


def path_problem(path: str) -> str | None:
    """Why `path` cannot be written to a repository, or None when it can."""
    if not path:
        return "must not be empty"
    if len(path) > MAX_PATH_LENGTH:
        return f"must be at most {MAX_PATH_LENGTH} characters"
    if path.startswith("/"):
        return "must be relative to the repository root (no leading '/')"
    if "\\" in path:
        return "must use '/' as separator, not '\\'"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        return "must not contain NUL or other control characters"
    for segment in path.split("/"):
        if segment == "":
            return "must not contain empty segments ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"must not contain '{segment}' segments"
        if segment.lower() == ".git":
            return "must not contain a '.git' segment"
        if len(segment.encode()) > MAX_SEGMENT_LENGTH:
            return f"segments must be at most {MAX_SEGMENT_LENGTH} bytes"
    return None


def branch_problem(branch: str) -> str | None:
    """Why `branch` is not a valid branch name (git check-ref-format --branch), or None."""
    if not branch:
        return "must not be empty"
    if branch.startswith("-") or branch == "HEAD" or "\x7f" in branch:
        return "is not a valid git branch name"
    if not check_ref_format(b"refs/heads/" + branch.encode()):
        return "is not a valid git branch name"
    return None


def trace_path(template: str, promotion_id: int, pod: str) -> str:
    """The path a repository's trace template gives; ValueError says why it gives none."""
    try:
        path = template.format(promotion_id=promotion_id, pod=pod)
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        raise ValueError(f"only {{promotion_id}} and {{pod}} can be filled in ({error!r} is not)") from None
    problem = path_problem(path)
    if problem:
        raise ValueError(f"the path it gives, {path!r}, {problem}")
    return path
