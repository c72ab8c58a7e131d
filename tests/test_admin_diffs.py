"""What a promotion's page costs the git host, on both backends: a landed
promotion's diffs are read once (GitHub: one request per 300 files) and kept, so
later views read nothing; a waiting promotion reads a file's diff only when the lead
opens that file."""

import shutil

import pytest

from promotions.diffs import promotion_diffs
from promotions.models import FileDiff, Promotion
from promotions.scm.local import repository_path
from tests.factories import PodFactory
from tests.helpers import apply, file, submit

pytestmark = pytest.mark.django_db
Status = Promotion.Status
BINARY = bytes(range(256))


def page_url(promotion, suffix="change"):
    return f"/admin/promotions/promotion/{promotion.pk}/{suffix}/"


class HostReads:
    """What the git host of a target answered since the last look: GitHub requests
    counted by the emulator; a local repository cannot count, so it is made to fail
    every read instead (`cut_off`), and a page that still shows its diffs read none."""

    def __init__(self, request, target):
        self.target = target
        self.emulator = request.getfixturevalue("github") if target.repository.backend == "github" else None
        self.since()

    def since(self) -> int | None:
        if self.emulator is None:
            return None
        count = self.emulator.stats()["requests"]
        self.emulator.reset_stats()
        return count

    def cut_off(self) -> None:
        if self.emulator is None:
            shutil.rmtree(repository_path(self.target.repository.full_name))
        else:
            self.emulator.inject({"kind": "status", "status": 500, "times": 1000})


@pytest.fixture
def writer(target):
    return PodFactory(name="writer", repositories=[target.repository])


def added_line(text: str) -> str:
    return f'<span class="pg-diff-add">+{text}\n</span>'


def test_a_landed_promotion_costs_at_most_two_host_requests_then_none(request, target, writer, admin_client):
    target.commit_directly({"notes/plan.md": b"one\ntwo\nthree\n", "gone.txt": b"bye\n"})
    files = [
        file("notes/plan.md", "one\n2\nthree\n"),
        file("notes/new.md", "brand new\n"),
        file("gone.txt"),
        file("logo.bin", BINARY, encoding="base64"),
    ]
    promotion = apply(submit(writer, target.repository, files))
    assert promotion.status == Status.COMMITTED
    reads = HostReads(request, target)

    first = admin_client.get(page_url(promotion)).content.decode()
    assert reads.since() in (None, 1)  # one GitHub request for up to 300 files
    assert first.count("What it changed:") == 4
    assert added_line("2") in first and '<span class="pg-diff-del">-two\n</span>' in first
    assert added_line("brand new") in first and '<span class="pg-diff-del">-bye\n</span>' in first
    assert {row.change.path: bool(row.note) for row in FileDiff.objects.select_related("change")} == {
        "notes/plan.md": False,
        "notes/new.md": False,
        "gone.txt": False,
        "logo.bin": True,  # binary: a note, no patch
    }

    reads.cut_off()
    again = admin_client.get(page_url(promotion)).content.decode()
    assert reads.since() in (None, 0)
    assert added_line("2") in again and added_line("brand new") in again
    assert "could not read the repository" not in again


def test_a_500_file_promotion_is_shown_from_one_page_view(request, target, writer, admin_client):
    names = [f"outputs/file{n:03}.md" for n in range(500)]
    promotion = apply(submit(writer, target.repository, [file(name, f"text of {name}\n") for name in names]))
    assert promotion.status == Status.COMMITTED
    reads = HostReads(request, target)

    page = admin_client.get(page_url(promotion)).content.decode()
    assert reads.since() in (None, 2)  # GitHub lists a commit's files 300 a page
    assert all(added_line(f"text of {name}") in page for name in names)

    reads.cut_off()
    again = admin_client.get(page_url(promotion)).content.decode()
    assert reads.since() in (None, 0)
    assert all(added_line(f"text of {name}") in again for name in names)


def test_a_waiting_promotion_reads_a_file_only_when_it_is_opened(request, target, admin_client):
    careful = PodFactory(name="careful", repositories=[target.repository], require_approval=True)
    target.commit_directly({"prompts/system.md": b"Be brief.\nBe kind.\n"})
    files = [file("prompts/system.md", "Be brief.\nBe exact.\n"), file("prompts/other.md", "other\n")]
    promotion = apply(submit(careful, target.repository, files))
    assert promotion.status == Status.AWAITING_APPROVAL
    reads = HostReads(request, target)

    page = admin_client.get(page_url(promotion)).content.decode()
    assert reads.since() in (None, 0)
    assert page.count('class="pg-file-diff" data-diff-url=') == 2 and "Be exact." not in page

    opened = promotion.files.get(path="prompts/system.md")
    diff = admin_client.get(page_url(promotion, f"files/{opened.pk}/diff")).content.decode()
    assert reads.since() in (None, 3)  # the branch, its tree, the file's blob
    assert '<span class="pg-diff-del">-Be kind.\n</span>' in diff and added_line("Be exact.") in diff
    assert not FileDiff.objects.exists()  # the branch moves: a waiting file's diff is never kept


def test_a_file_of_another_promotion_is_not_found(target, writer, admin_client):
    first = apply(submit(writer, target.repository, [file("a.md", "a\n")]))
    second = apply(submit(writer, target.repository, [file("b.md", "b\n")]))
    answer = admin_client.get(page_url(first, f"files/{second.files.get().pk}/diff"))
    assert answer.status_code == 404


def test_the_page_of_a_landed_promotion_says_when_the_host_cannot_be_read(request, target, writer, admin_client):
    promotion = apply(submit(writer, target.repository, [file("a.md", "a\n")]))
    HostReads(request, target).cut_off()
    page = admin_client.get(page_url(promotion)).content.decode()
    assert page.count("could not read the repository") == 1
    assert not FileDiff.objects.exists()  # nothing kept: the next view asks again


@pytest.mark.parametrize("target", ["github"], indirect=True)
def test_a_rename_github_reports_shows_on_both_paths(target, writer):
    target.commit_directly({"docs/old.md": b"".join(b"line %d\n" % n for n in range(20))})
    moved = [file("docs/old.md"), file("docs/new.md", "".join(f"line {n}\n" for n in range(20)))]
    promotion = apply(submit(writer, target.repository, moved))
    shown = {diff.change.path: diff for diff in promotion_diffs(promotion)}
    assert shown["docs/new.md"].note == "renamed from docs/old.md, unchanged" and not shown["docs/new.md"].patch
    assert shown["docs/old.md"].note.startswith("renamed to docs/new.md")


def test_both_backends_list_what_a_commit_changed(target):
    target.commit_directly({"keep.md": b"1\n2\n3\n", "gone.md": b"bye\n", "bin.dat": b"\0\1"})
    sha = target.commit_directly(
        {"keep.md": b"1\ntwo\n3\n", "gone.md": None, "new.md": b"hello", "bin.dat": b"\0\2"}, message="change"
    )
    patches = target.scm.commit_diffs(sha)
    assert sorted(patches) == ["bin.dat", "gone.md", "keep.md", "new.md"]
    assert [line for line in patches["keep.md"].patch.splitlines() if line[:1] in "+-"] == ["-2", "+two"]
    assert patches["gone.md"].patch.splitlines()[1:] == ["-bye"]
    assert patches["new.md"].patch.splitlines()[1:] == ["+hello", "\\ No newline at end of file"]
    assert patches["bin.dat"].patch is None and patches["bin.dat"].note
