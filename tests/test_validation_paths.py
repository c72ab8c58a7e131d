"""Paths git refuses to check out are refused before anything is stored, segment by
segment, and checked against git itself; twins that one macOS or Windows checkout
cannot hold side by side are found."""

import subprocess

import pytest

from promotions.models import Promotion
from promotions.validation import branch_problem, path_fold, path_problem, path_twins, twin_problem

# Each one reads as `.git` somewhere: git itself refuses it (verify_path, protectNTFS / protectHFS).
DOTGIT_LOOKALIKES = [
    ".git./hooks/post-checkout",
    "outputs/.git./hooks/x",
    "outputs/.git /config",
    "outputs/.Git. . ./config",
    "GIT~1/config",
    "outputs/git~1./hooks/x",
    ".git::$INDEX_ALLOCATION/hooks/x",
    "a/.git:stream",
    ".g\u200cit/hooks/x",  # ZERO WIDTH NON-JOINER, ignored by HFS+
    ".GI\ufeffT/config",  # ZERO WIDTH NO-BREAK SPACE
    "\u200e.git/config",  # LEFT-TO-RIGHT MARK
]


@pytest.fixture(scope="module")
def git_index(tmp_path_factory):
    """A scratch repository and a blob, to ask git whether it accepts a path."""
    folder = tmp_path_factory.mktemp("verify-path")
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    blob = (
        subprocess.run(
            ["git", "-C", str(folder), "hash-object", "-w", "--stdin"], input=b"x\n", capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
    )

    def git_accepts(path: str, mode: str = "100644") -> bool:
        command = ["git", "-C", str(folder), "-c", "core.protectNTFS=true", "-c", "core.protectHFS=true"]
        entry = f"{mode},{blob},{path}"
        added = subprocess.run([*command, "update-index", "--add", "--cacheinfo", entry], capture_output=True)
        subprocess.run([*command, "rm", "-q", "--cached", "--ignore-unmatch", "--", path], capture_output=True)
        return added.returncode == 0

    return git_accepts


@pytest.mark.parametrize("path", DOTGIT_LOOKALIKES)
def test_every_dotgit_lookalike_is_refused_as_git_itself_refuses_it(git_index, path):
    problem = path_problem(path)
    assert problem is not None and "reads as '.git'" in problem
    assert not git_index(path)


@pytest.mark.parametrize(
    "path, segment",
    [("outputs/.git./hooks/x", "'.git.'"), (".g\u200cit/x", "'.g\\u200cit'"), ("a/b/GIT~1", "'GIT~1'")],
)
def test_the_message_names_the_segment_with_invisible_characters_escaped(path, segment):
    assert f"has a segment {segment} that" in path_problem(path)


@pytest.mark.parametrize("path", ["gitmod~1", "GI7EBA~1", ".gitmodules.", ".gitmodules::$DATA", ".git\u200dmodules"])
def test_gitmodules_lookalikes_are_refused_like_git_refuses_them_as_symlinks(git_index, path):
    assert "reads as '.gitmodules'" in path_problem(path)
    assert not git_index(path, mode="120000")


@pytest.mark.parametrize("path", ["gi250a~1", ".gitignore .", "gitatt~2", "outputs/.gitattributes:x"])
def test_other_git_dot_file_lookalikes_are_refused_since_scopes_only_see_the_exact_name(path):
    assert "reads as '.git" in path_problem(path)


@pytest.mark.parametrize(
    "path, why",
    [
        ("outputs/\u202egnp.exe", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("outputs/a\u2066b.md", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("a\u061cb.md", "U+061C ARABIC LETTER MARK"),
        ("a\u200bb.md", "U+200B ZERO WIDTH SPACE"),
        ("soft\u00adhyphen.md", "U+00AD SOFT HYPHEN"),
        ("a\u2028b.md", "U+2028 LINE SEPARATOR"),
        ("a\x85b.md", "a control character, U+0085"),
        ("a\tb.md", "a control character, U+0009"),
        ("a\ud800b.md", "a lone surrogate"),
    ],
)
def test_invisible_format_and_control_characters_and_lone_surrogates_are_refused(path, why):
    problem = path_problem(path)
    assert why in problem
    assert problem.isprintable() and problem.encode("utf-8")  # the message itself spoofs nothing


@pytest.mark.parametrize(
    "path, why",
    [
        ("con.txt", "device name"),
        ("outputs/AUX", "device name"),
        ("lpt1.md", "device name"),
        ("COM9 .log", "device name"),
        ("conin$", "device name"),
        ("report.", "ends with a dot or a space"),
        ("notes /a.md", "ends with a dot or a space"),
        ("a:b.md", "':'"),
        ("what?.md", "'?'"),
        ('say "hi".md', "'\"'"),
    ],
)
def test_names_git_for_windows_refuses_are_refused(path, why):
    assert why in path_problem(path)


@pytest.mark.parametrize(
    "path",
    [
        "outputs/summary.md",
        ".gitmodules",
        ".gitignore",
        ".github/workflows/ci.yml",
        "docs/.gitkeep",
        "gitmodules",
        "my.git/x",
        ".gitx/y",
        "git~1x",
        "gi7eba~12",
        "com0.md",
        "console.log",
        "docs/Straße/café.md",
        "日本語/ファイル.md",
        "a b/c d.md",
        "emoji-🚀.md",
    ],
)
def test_ordinary_paths_pass_and_git_accepts_them(git_index, path):
    assert path_problem(path) is None
    assert git_index(path)


@pytest.mark.parametrize(
    "path", ["", "/abs", "a//b", "a/", "./a", "a/../b", ".git/config", "a/.GIT/x", "a\\b", "x" * 1025, "a/" + "é" * 128]
)
def test_the_earlier_rules_still_hold(path):
    assert path_problem(path) is not None


def test_a_branch_with_a_lone_surrogate_or_over_255_bytes_is_refused():
    assert "lone surrogate" in branch_problem("task-\udc80")
    assert "255 bytes" in branch_problem("b" * 128 + "é" * 64)
    assert branch_problem("b" * 255) is None


def test_path_fold_is_one_key_for_every_case_and_normalisation():
    assert path_fold("Docs/Guide.md") == path_fold("docs/guide.md") == path_fold("DOCS/GUIDE.MD")
    assert path_fold("caf\u00e9.md") == path_fold("cafe\u0301.md") == path_fold("CAFE\u0301.md")
    assert path_fold("docs/a.md") != path_fold("docs/b.md")


def test_twins_in_one_batch_are_found_with_the_first_path_they_collide_with():
    paths = [
        "Docs/Guide.md",
        "docs/guide.md",  # a case twin of a file
        "docs/other.md",  # a case twin of a folder
        "caf\u00e9.md",
        "cafe\u0301.md",  # NFC and NFD
        "t/fd",
        "t/fd/x",  # a file that is also a folder
        "Docs/Guide.md",  # an exact duplicate is not a twin (refused elsewhere)
        "Docs/more.md",  # same folder, same spelling: fine
        "unrelated/a.md",
    ]
    assert path_twins(paths) == [
        ("Docs/Guide.md", "docs/guide.md"),
        ("Docs/Guide.md", "docs/other.md"),
        ("caf\u00e9.md", "cafe\u0301.md"),
        ("t/fd", "t/fd/x"),
    ]
    assert path_twins(["t/fd/x", "T/FD"]) == [("t/fd/x", "T/FD")]
    assert path_twins(["a/b.md", "a/c.md", "b/a.md"]) == []


def test_twin_messages_name_what_collides():
    assert "only in letter case" in twin_problem("docs/guide.md", "Docs/Guide.md")
    assert "NFC and NFD" in twin_problem("cafe\u0301.md", "caf\u00e9.md")
    assert "the folder 'docs' where 'Docs/Guide.md' has 'Docs'" in twin_problem("docs/other.md", "Docs/Guide.md")
    assert "need 't/fd' to be both a file and a folder" in twin_problem("t/fd/x", "t/fd")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["outputs/.git./hooks/post-checkout", "outputs/git~1/config", "outputs/\u202egnp.md"])
def test_the_api_answers_400_naming_the_file_and_stores_nothing(api, path):
    files = [{"path": "outputs/fine.md", "content": "ok\n"}, {"path": path, "content": "#!/bin/sh\n"}]
    response = api.post("/api/v1/promotions", {"commit_message": "x", "files": files}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["files[1].path"]
    assert Promotion.objects.count() == 0


@pytest.mark.django_db
def test_the_api_refuses_a_lone_surrogate_in_a_path_with_400_not_500(api):
    body = '{"commit_message": "x", "files": [{"path": "a\\ud800.md", "content": "x"}]}'
    response = api.post("/api/v1/promotions", body, content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["files[0].path"]
    assert Promotion.objects.count() == 0
