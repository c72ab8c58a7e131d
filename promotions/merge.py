"""Content-level helpers of the engine: git blob SHAs, text detection, unified
diffs and three-way merges with `git merge-file` itself, so a merge gives the
result git would give, whichever adapter holds the repository."""

from __future__ import annotations

import difflib
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dulwich.objects import Blob

# Conflict hunks and diffs quoted to pods are cut here: enough to redo the work.
MAX_QUOTED_CHARS = 20_000


def blob_sha(content: bytes) -> str:
    return Blob.from_string(content).id.decode()


def is_text(content: bytes) -> bool:
    if b"\0" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def unified_diff(before: bytes, after: bytes, before_label: str, after_label: str) -> str:
    lines = difflib.unified_diff(
        before.decode("utf-8", "replace").splitlines(keepends=True),
        after.decode("utf-8", "replace").splitlines(keepends=True),
        fromfile=before_label,
        tofile=after_label,
    )
    return clip("".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines))


def file_patch(before: bytes, after: bytes) -> str:
    """The unified diff's hunks alone, without its `---`/`+++` lines and final newline:
    a file's patch as git hosts show it; "" when nothing differs."""
    diff = unified_diff(before, after, "a", "b")
    return diff.split("\n", 2)[2].removesuffix("\n") if diff else ""


@dataclass(frozen=True)
class MergeResult:
    content: bytes
    conflict_count: int

    @property
    def clean(self) -> bool:
        return self.conflict_count == 0

    def conflict_hunks(self) -> str:
        """The marked regions only, as git writes them."""
        hunks, inside = [], False
        for line in self.content.decode("utf-8", "replace").splitlines(keepends=True):
            if line.startswith("<<<<<<< "):
                inside = True
            if inside:
                hunks.append(line)
            if line.startswith(">>>>>>> "):
                inside = False
        return clip("".join(hunks))


def three_way_merge(base: bytes, current: bytes, proposed: bytes) -> MergeResult:
    """Merge the pod's `proposed` version into `current`, both descended from `base`."""
    with tempfile.TemporaryDirectory(prefix="patchgate-merge-") as workdir:
        files = []
        for name, content in (("current", current), ("base", base), ("pod", proposed)):
            path = Path(workdir) / name
            path.write_bytes(content)
            files.append(str(path))
        completed = subprocess.run(
            ["git", "merge-file", "-p", "-L", "current", "-L", "base", "-L", "pod", *files],
            capture_output=True,
            check=False,
        )
    if completed.returncode < 0 or completed.returncode > 127:
        raise RuntimeError(f"git merge-file failed: {completed.stderr.decode(errors='replace')}")
    return MergeResult(completed.stdout, completed.returncode)


def clip(text: str) -> str:
    """`text` cut at MAX_QUOTED_CHARS, saying so."""
    if len(text) <= MAX_QUOTED_CHARS:
        return text
    return text[:MAX_QUOTED_CHARS] + "\n[… cut]\n"
