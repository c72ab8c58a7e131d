"""Path globs as leads write them in policies, one per line, gitignore-style:
`*` and `?` stay inside one path segment, `**` spans any number of them, so
`prompts/**` matches everything under prompts/ and `**/*.md` any Markdown file.

Matching is on the folded form of both (validation.path_fold: NFC, case-folded) unless
asked otherwise, since a checkout on macOS or Windows writes `Secrets/x` into
`secrets/`: a deny, sensitive or approval rule then holds for every spelling (fails
closed). Allow rules match exactly, for the same reason: matching less fails closed."""

from __future__ import annotations

import re
from functools import lru_cache

from .validation import path_fold


def glob_lines(text: str) -> list[str]:
    """The globs of a one-per-line text field; blank lines and `#` comments ignored."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@lru_cache(maxsize=512)
def _pattern(glob: str, folded: bool) -> re.Pattern:
    glob = glob.lstrip("/")  # paths are relative to the root anyway
    if glob.endswith("/"):  # a directory: everything under it
        glob += "**"
    if folded:
        glob = path_fold(glob)
    pattern, index = "", 0
    while index < len(glob):
        if glob.startswith("**/", index):
            pattern, index = pattern + "(?:.*/)?", index + 3
        elif glob.startswith("**", index):
            pattern, index = pattern + ".*", index + 2
        elif glob[index] == "*":
            pattern, index = pattern + "[^/]*", index + 1
        elif glob[index] == "?":
            pattern, index = pattern + "[^/]", index + 1
        else:
            pattern, index = pattern + re.escape(glob[index]), index + 1
    return re.compile(pattern)


def path_matches(glob: str, path: str, *, folded: bool = True) -> bool:
    """Whether `path` matches `glob`: on their folded forms, or exactly with folded=False."""
    return _pattern(glob, folded).fullmatch(path_fold(path) if folded else path) is not None


def first_match(globs: list[str], path: str, *, folded: bool = True) -> str | None:
    """The first of `globs` that matches `path` (see path_matches), or None. The path is
    folded once and tried against all of them at once: most paths match none."""
    if not globs:
        return None
    subject = path_fold(path) if folded else path
    if _any_pattern(tuple(globs), folded).fullmatch(subject) is None:
        return None
    return next(glob for glob in globs if _pattern(glob, folded).fullmatch(subject))


@lru_cache(maxsize=256)
def _any_pattern(globs: tuple[str, ...], folded: bool) -> re.Pattern:
    return re.compile("|".join(f"(?:{_pattern(glob, folded).pattern})" for glob in globs))
