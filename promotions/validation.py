"""Rules for names: repositories, file paths inside a repository and branch names.

A path is refused when git itself would refuse to check it out somewhere: its
`verify_path` with core.protectNTFS and core.protectHFS on (git turns the first
on everywhere since 2.24.1, the second on macOS), and git for Windows' path rules. Every segment is checked, so a
scope of `outputs/**` cannot carry `outputs/.git./hooks/x`. Sources (git/git):
read-cache.c verify_path_internal / verify_dotfile, path.c is_ntfs_dotgit /
is_ntfs_dot_generic, utf8.c next_hfs_char / is_hfs_dot_generic, compat/mingw.c
is_valid_win32_path."""

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from dulwich.refs import Ref, check_ref_format

# GitHub's own rule for owners and repository names; it also keeps a local
# repository's folder inside LOCAL_REPOS_DIR.
REPOSITORY_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")

MAX_PATH_LENGTH = 1024
MAX_SEGMENT_LENGTH = 255
MAX_BRANCH_BYTES = 255
MAX_IDEMPOTENCY_KEY = 255
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,%d}" % MAX_IDEMPOTENCY_KEY)

# utf8.c next_hfs_char: code points HFS+ ignores in a name, so `.g\u200cit` is `.git` on a Mac.
HFS_IGNORED = frozenset(
    [0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, *range(0x206A, 0x2070), 0xFEFF]
)
# The dot files git treats specially besides `.git`, with the prefix of their NTFS
# fallback 8.3 short name (path.c is_ntfs_dotgitmodules and siblings). Spelled
# exactly they are sensitive paths (promotions.scopes); a lookalike would dodge that rule.
GIT_DOT_FILES = {"gitmodules": "gi7eba", "gitignore": "gi250a", "gitattributes": "gi7d29"}
# compat/mingw.c is_valid_win32_path: device names Windows reserves, whatever the extension.
WINDOWS_RESERVED = re.compile(r"(aux|prn|nul|con(in\$|out\$)?|com[1-9]|lpt[0-9]) *([.:]|$)", re.IGNORECASE)
WINDOWS_FORBIDDEN = frozenset(':<>"|?*')
# Unicode categories refused anywhere: controls, invisible format characters (bidi
# controls, zero-width characters, BOM) that spoof what a lead reads, lone surrogates
# (not encodable as UTF-8), and line and paragraph separators.
REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Cs": "a lone surrogate (not valid Unicode text)",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def repository_name_problem(full_name: str) -> str | None:
    """Why `full_name` is not OWNER/NAME, or None."""
    if not REPOSITORY_NAME.fullmatch(full_name) or any(part in (".", "..") for part in full_name.split("/")):
        return "must be OWNER/NAME (letters, digits, '-', '_' and '.'; not '.' or '..')"
    return None


def _ntfs_rest_is_empty(rest: str) -> bool:
    """path.c `only_spaces_and_periods`: NTFS drops trailing dots and spaces, and
    `:` starts an alternate data stream (`.git::$INDEX_ALLOCATION` is `.git`)."""
    for char in rest:
        if char == ":":
            return True
        if char not in " .":
            return False
    return True


def _is_ntfs_dotgit(segment: str) -> bool:
    """path.c is_ntfs_dotgit: `.git` or its 8.3 short name `git~1`, then only dots,
    spaces or a stream name. (git compares ASCII letters case-insensitively.)"""
    name = segment.translate(_ASCII_LOWER)
    for stem in (".git", "git~1"):
        if name.startswith(stem) and _ntfs_rest_is_empty(name[len(stem) :]):
            return True
    return False


def _is_ntfs_dot(segment: str, dot_name: str, short_prefix: str) -> bool:
    """path.c is_ntfs_dot_generic: `.<dot_name>`, its short name `<first 6>~1`..`~4`,
    or a fallback short name (up to 6 letters of `short_prefix`, `~`, digits)."""
    name = segment.translate(_ASCII_LOWER)
    if name.startswith("." + dot_name):
        return _ntfs_rest_is_empty(name[len(dot_name) + 1 :])
    if name[:6] == dot_name[:6] and name[6:7] == "~" and name[7:8] in ("1", "2", "3", "4") and len(name) >= 8:
        return _ntfs_rest_is_empty(name[8:])
    index, saw_tilde = 0, False
    while index < 8:
        if index >= len(name):
            return False
        char = name[index]
        if saw_tilde:
            if not "0" <= char <= "9":
                return False
        elif char == "~":
            index += 1
            if index >= len(name) or not "1" <= name[index] <= "9":
                return False
            saw_tilde = True
        elif index >= 6 or not char.isascii() or char != short_prefix[index]:
            return False
        index += 1
    return _ntfs_rest_is_empty(name[index:])


def _is_hfs_dot(segment: str, dot_name: str) -> bool:
    """utf8.c is_hfs_dot_generic: `.<dot_name>` once HFS+ drops its ignored code points."""
    name = "".join(char for char in segment if ord(char) not in HFS_IGNORED)
    return name.isascii() and name.translate(_ASCII_LOWER) == "." + dot_name


def _character_problem(segment: str) -> str | None:
    for char in segment:
        category = unicodedata.category(char)
        if category in REFUSED_CATEGORIES:
            label = unicodedata.name(char, "") if category != "Cs" else ""
            return f"contains {REFUSED_CATEGORIES[category]}, U+{ord(char):04X}" + (f" {label}" if label else "")
        if char in WINDOWS_FORBIDDEN:
            return f"contains {char!r}, which Windows does not allow in a file name (git for Windows refuses it)"
    return None


@lru_cache(maxsize=4096)  # every request checks its paths; most segments come back often
def segment_problem(segment: str) -> str | None:
    """Why git refuses one segment of a path (a file or folder name, neither empty
    nor '.' or '..'), or None."""
    if segment.translate(_ASCII_LOWER) == ".git":
        return "is git's own folder"
    if _is_hfs_dot(segment, "git"):
        return "reads as '.git' on macOS (HFS+ ignores invisible code points; git refuses it, core.protectHFS)"
    if _is_ntfs_dotgit(segment):
        return (
            "reads as '.git' on Windows (NTFS drops trailing dots and spaces, and knows 8.3 short names and "
            "alternate data streams; git refuses it, core.protectNTFS)"
        )
    for dot_name, short_prefix in GIT_DOT_FILES.items():
        spelled_out = segment.translate(_ASCII_LOWER) == "." + dot_name
        if not spelled_out and (_is_hfs_dot(segment, dot_name) or _is_ntfs_dot(segment, dot_name, short_prefix)):
            return f"reads as '.{dot_name}' on Windows or macOS; write '.{dot_name}' itself if it is meant"
    problem = _character_problem(segment)
    if problem:
        return problem
    if WINDOWS_RESERVED.match(segment):
        return "is a device name Windows reserves (CON, PRN, AUX, NUL, COM1-9, LPT0-9); git for Windows refuses it"
    if segment[-1] in " .":
        return "ends with a dot or a space, which Windows drops (git for Windows refuses it)"
    if len(segment.encode("utf-8")) > MAX_SEGMENT_LENGTH:
        return f"is longer than {MAX_SEGMENT_LENGTH} bytes"
    return None


def path_problem(path: str) -> str | None:
    """Why `path` cannot be written to a repository, or None when it can. A segment's
    problem names the segment (escaped, so invisible characters show)."""
    if not path:
        return "must not be empty"
    if len(path) > MAX_PATH_LENGTH:
        return f"must be at most {MAX_PATH_LENGTH} characters"
    if path.startswith("/"):
        return "must be relative to the repository root (no leading '/')"
    if "\\" in path:
        return "must use '/' as separator, not '\\'"
    segments = path.split("/")
    if "" in segments:
        return "must not contain empty segments ('//' or a trailing '/')"
    for segment in segments:
        if segment in (".", ".."):
            return f"must not contain '{segment}' segments"
        problem = segment_problem(segment)
        if problem:
            return f"has a segment {segment!r} that {problem}"
    return None


@lru_cache(maxsize=4096)  # each path and glob is folded once per rule it meets
def path_fold(path: str) -> str:
    """The key under which two paths are one file on a case-insensitive, normalising
    file system (macOS, Windows): Unicode canonical caseless matching, kept in NFC.
    It folds more than NTFS does (`ß` is `ss`): a twin too many is refused, never one too few."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", path).casefold())


def path_twins(paths: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs (earlier, later) of `paths` that one checkout on macOS or Windows cannot
    hold side by side: names that differ only in case or Unicode normalisation
    (`Docs/Guide.md` and `docs/guide.md`), also as folder names (`Docs/a.md` and
    `docs/b.md`), and a file that is also a folder (`t/fd` and `t/fd/x`). Each later
    path is paired with the first path it collides with; exact duplicates are not twins."""
    names: dict[str, tuple[str, str, bool]] = {}  # folded name -> (spelling, path that brought it, is a folder)
    twins = []
    for path in paths:
        segments = path.split("/")
        folded = [path_fold(segment) for segment in segments]
        for depth in range(1, len(segments) + 1):
            name, key, is_folder = "/".join(segments[:depth]), "/".join(folded[:depth]), depth < len(segments)
            spelling, owner, owner_is_folder = names.setdefault(key, (name, path, is_folder))
            if spelling != name or owner_is_folder != is_folder:
                twins.append((owner, path))
                break
    return twins


def twin_problem(path: str, twin: str) -> str:
    """Why `path` cannot sit beside `twin` (a pair from path_twins), naming the names that collide."""
    mine, theirs = path.split("/"), twin.split("/")
    common = 0
    while common < min(len(mine), len(theirs)) and path_fold(mine[common]) == path_fold(theirs[common]):
        common += 1
    if common == len(mine) == len(theirs):
        if unicodedata.normalize("NFC", path) == unicodedata.normalize("NFC", twin):
            return f"is {twin!r} with its accents composed differently (Unicode NFC and NFD): one file on macOS"
        return f"differs from {twin!r} only in letter case or Unicode normalisation: one file on macOS and Windows"
    if common in (len(mine), len(theirs)):
        return f"and {twin!r} need {'/'.join(mine[:common])!r} to be both a file and a folder"
    depth = next(depth for depth in range(common) if mine[depth] != theirs[depth])
    return (
        f"has the folder {'/'.join(mine[: depth + 1])!r} where {twin!r} has {'/'.join(theirs[: depth + 1])!r}: "
        "they differ only in letter case or Unicode normalisation, one folder on macOS and Windows"
    )


def branch_problem(branch: str) -> str | None:
    """Why `branch` is not a valid branch name (git check-ref-format --branch), or None."""
    if not branch:
        return "must not be empty"
    if any(unicodedata.category(char) == "Cs" for char in branch):
        return "contains a lone surrogate (not valid Unicode text)"
    if len(branch.encode("utf-8")) > MAX_BRANCH_BYTES:
        return f"must be at most {MAX_BRANCH_BYTES} bytes"
    if branch.startswith("-") or branch == "HEAD" or "\x7f" in branch:
        return "is not a valid git branch name"
    if not check_ref_format(Ref(b"refs/heads/" + branch.encode())):
        return "is not a valid git branch name"
    return None


def idempotency_key_problem(key: str) -> str | None:
    """Why an Idempotency-Key cannot be used, or None."""
    if not IDEMPOTENCY_KEY.fullmatch(key):
        return f"Must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters, without spaces (a UUID fits)."
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
