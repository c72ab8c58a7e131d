"""Path globs as leads write them in policies, one per line, gitignore-style:
`*` and `?` stay inside one path segment, `**` spans any number of them, so
`prompts/**` matches everything under prompts/ and `**/*.md` any Markdown file."""

from __future__ import annotations

import re
from functools import lru_cache


def glob_lines(text: str) -> list[str]:
    """The globs of a one-per-line text field; blank lines and `#` comments ignored."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@lru_cache(maxsize=512)
def _compile(glob: str) -> re.Pattern:
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


def path_matches(glob: str, path: str) -> bool:
    glob = glob.lstrip("/")  # paths are relative to the root anyway
    if glob.endswith("/"):  # a directory: everything under it
        glob += "**"
    return _compile(glob).fullmatch(path) is not None


def first_match(globs: list[str], path: str) -> str | None:
    """The first of `globs` that matches `path`, or None."""
    return next((glob for glob in globs if path_matches(glob, path)), None)
