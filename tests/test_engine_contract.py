"""The promotion engine's scenarios, run once per target with the same assertions.

`target` is parametrized (see conftest): the local bare repository, and GitHub through
PyGithub against the emulator by the REST Git Data API and by GraphQL's
createCommitOnBranch."""

import pytest

from promotions.engine.lanes import drain_lane
from promotions.engine.messages import promotion_ids_in
from promotions.merge import blob_sha
from promotions.models import Promotion
from tests.factories import PodFactory
from tests.helpers import apply, file, results, submit

pytestmark = pytest.mark.django_db

Status = Promotion.Status


@pytest.fixture
def writer(target):
    return PodFactory(name="writer", repositories=[target.repository])


def test_created_updated_unchanged_and_no_changes(target, writer):
    first = apply(submit(writer, target.repository, [file("a.txt", "one\n"), file("dir/b.txt", "two\n")]))
    assert first.status == Status.COMMITTED and results(first) == ["created", "created"]
    assert target.head() == first.commit_sha
    assert target.read("dir/b.txt") == b"two\n"

    second = apply(submit(writer, target.repository, [file("a.txt", "one!\n"), file("dir/b.txt", "two\n")]))
    assert second.status == Status.COMMITTED and results(second) == ["updated", "unchanged"]
    changed = second.files.get(path="a.txt")
    assert changed.old_sha == blob_sha(b"one\n") and changed.new_sha == blob_sha(b"one!\n")

    same = apply(submit(writer, target.repository, [file("a.txt", "one!\n")]))
    assert same.status == Status.NO_CHANGES and results(same) == ["unchanged"]
    assert same.commit_sha == "" and target.head() == second.commit_sha


def test_deleted(target, writer):
    apply(submit(writer, target.repository, [file("gone.txt", "x\n"), file("kept.txt", "y\n")]))
    promotion = apply(submit(writer, target.repository, [file("gone.txt"), file("never.txt")]))
    assert results(promotion) == ["deleted", "unchanged"]
    assert target.read("gone.txt") is None and target.read("kept.txt") == b"y\n"


def before_the_branch_moves(target, monkeypatch, action):
    """Run `action` once, between the engine's read of the branch and its write that
    moves it (the compare-and-swap, or GraphQL's commit on the branch itself)."""
    adapter = type(target.scm)
    real = getattr(adapter, target.moves_branch)
    done = []

    def first_someone_else(self, *args):
        if not done:
            done.append("in progress")  # another writer's own write goes straight through
            done[0] = action()
        return real(self, *args)

    monkeypatch.setattr(adapter, target.moves_branch, first_someone_else)
    return done


def test_branch_moved_meanwhile_is_reread_not_overwritten(target, writer, monkeypatch):
    """Someone commits between our read and our write: we re-read, re-apply, keep theirs."""
    promotion = submit(writer, target.repository, [file("mine.txt", "mine\n")])
    moved = before_the_branch_moves(target, monkeypatch, lambda: target.commit_directly({"theirs.txt": b"theirs\n"}))
    promotion = apply(promotion)
    assert promotion.status == Status.COMMITTED and results(promotion) == ["created"]
    assert target.read("theirs.txt") == b"theirs\n" and target.read("mine.txt") == b"mine\n"
    history = [c.sha for c in target.commits()]
    assert history[:2] == [promotion.commit_sha, moved[0]]
    assert sum(promotion.pk in promotion_ids_in(c.message) for c in target.commits()) == 1


def test_branch_reset_to_an_ancestor_meanwhile_is_replanned_not_undone(target, writer, monkeypatch):
    """Someone force-moves the branch back to an ancestor between our read and our write:
    an exact compare-and-swap sees it, so their reset stands and we land once on it."""
    ancestor = target.commit_directly({"kept.txt": b"kept\n"})
    target.commit_directly({"dropped.txt": b"dropped by the reset\n"})
    promotion = submit(writer, target.repository, [file("mine.txt", "mine\n")])
    before_the_branch_moves(target, monkeypatch, lambda: target.reset(ancestor))
    promotion = apply(promotion)
    assert promotion.status == Status.COMMITTED and results(promotion) == ["created"]
    history = [c.sha for c in target.commits()]
    assert history[:2] == [promotion.commit_sha, ancestor]
    assert target.read("dropped.txt") is None and target.read("mine.txt") == b"mine\n"
    assert sum(promotion.pk in promotion_ids_in(c.message) for c in target.commits()) == 1


def test_one_commit_per_batch(target, writer):
    before = len(target.commits())
    promotion = apply(submit(writer, target.repository, [file(f"many/f{i}.txt", f"{i}\n") for i in range(40)]))
    assert promotion.status == Status.COMMITTED
    assert len(target.commits()) == before + 1
    assert set(results(promotion)) == {"created"}


# --- safety: bases, merges, conflicts -------------------------------------------------


def test_stale_base_with_overlapping_edit_is_a_conflict_with_diff(target, writer):
    apply(submit(writer, target.repository, [file("notes.md", "line 1\nline 2\nline 3\n")]))
    base = target.sha_of("notes.md")
    target.commit_directly({"notes.md": b"line 1\nline 2 (theirs)\nline 3\n"})
    current = target.sha_of("notes.md")

    promotion = apply(
        submit(writer, target.repository, [file("notes.md", "line 1\nline 2 (mine)\nline 3\n", base_sha=base)])
    )
    assert promotion.status == Status.CONFLICT and results(promotion) == ["conflict"]
    message = promotion.files.get().message
    assert current in message and "<<<<<<< current" in message and "line 2 (mine)" in message
    assert target.read("notes.md") == b"line 1\nline 2 (theirs)\nline 3\n"


def test_non_overlapping_edits_merge(target, writer):
    original = "".join(f"line {i}\n" for i in range(1, 10))
    apply(submit(writer, target.repository, [file("doc.txt", original)]))
    base = target.sha_of("doc.txt")
    target.commit_directly({"doc.txt": original.replace("line 2\n", "line 2 theirs\n").encode()})
    promotion = apply(
        submit(
            writer, target.repository, [file("doc.txt", original.replace("line 8\n", "line 8 mine\n"), base_sha=base)]
        )
    )
    assert promotion.status == Status.COMMITTED and results(promotion) == ["merged"]
    assert (
        target.read("doc.txt")
        == original.replace("line 2\n", "line 2 theirs\n").replace("line 8\n", "line 8 mine\n").encode()
    )


def test_stale_base_on_delete_is_a_conflict_with_current_sha_and_diff(target, writer):
    apply(submit(writer, target.repository, [file("d.txt", "v1\n")]))
    base = target.sha_of("d.txt")
    target.commit_directly({"d.txt": b"v2\n"})
    promotion = apply(submit(writer, target.repository, [file("d.txt", base_sha=base)]))
    assert results(promotion) == ["conflict"]
    message = promotion.files.get().message
    assert target.sha_of("d.txt") in message and "-v1" in message and "+v2" in message
    assert target.read("d.txt") == b"v2\n"


def test_delete_missing_with_base_is_conflict(target, writer):
    promotion = apply(submit(writer, target.repository, [file("ghost.txt", base_sha=blob_sha(b"x"))]))
    assert promotion.status == Status.CONFLICT and results(promotion) == ["conflict"]


def test_null_base_means_create_only(target, writer):
    created = apply(submit(writer, target.repository, [file("new.txt", "first\n", base_sha=None)]))
    assert results(created) == ["created"]
    again = apply(submit(writer, target.repository, [file("new.txt", "second\n", base_sha=None)]))
    assert again.status == Status.CONFLICT and results(again) == ["conflict"]
    assert target.sha_of("new.txt") in again.files.get().message
    assert target.read("new.txt") == b"first\n"


def test_no_base_is_last_writer_wins(target, writer):
    apply(submit(writer, target.repository, [file("lww.txt", "a\n")]))
    target.commit_directly({"lww.txt": b"b\n"})
    promotion = apply(submit(writer, target.repository, [file("lww.txt", "c\n")]))
    assert results(promotion) == ["updated"] and target.read("lww.txt") == b"c\n"


def test_atomic_batch_commits_nothing_on_conflict(target, writer):
    apply(submit(writer, target.repository, [file("x.txt", "x\n")]))
    head = target.head()
    promotion = apply(
        submit(writer, target.repository, [file("ok.txt", "fine\n"), file("x.txt", "y\n", base_sha=None)])
    )
    assert promotion.status == Status.CONFLICT
    assert results(promotion) == ["skipped", "conflict"]
    assert target.head() == head and target.read("ok.txt") is None


def test_non_atomic_batch_lands_clean_files(target, writer):
    apply(submit(writer, target.repository, [file("x.txt", "x\n")]))
    promotion = apply(
        submit(writer, target.repository, [file("ok.txt", "fine\n"), file("x.txt", "y\n", base_sha=None)], atomic=False)
    )
    assert promotion.status == Status.COMMITTED
    assert results(promotion) == ["created", "conflict"]
    assert target.read("ok.txt") == b"fine\n" and target.read("x.txt") == b"x\n"


def test_binary_is_byte_for_byte_and_mode_is_kept(target, writer):
    data = bytes(range(256)) * 3
    target.commit_directly({"run.sh": b"#!/bin/sh\necho hi\n"}, mode="100755")
    promotion = apply(
        submit(
            writer,
            target.repository,
            [file("img.bin", data, encoding="base64"), file("run.sh", "#!/bin/sh\necho bye\n")],
        )
    )
    assert results(promotion) == ["created", "updated"]
    assert target.read("img.bin") == data
    assert target.entry("run.sh").mode == "100755"


def test_a_mode_asked_for_is_written_and_a_mode_change_alone_is_an_update(target, writer):
    made = apply(
        submit(writer, target.repository, [file("bin/tool", "#!/bin/sh\n", mode="100755"), file("n.txt", "n\n")])
    )
    assert results(made) == ["created", "created"]
    assert target.entry("bin/tool").mode == "100755" and target.entry("n.txt").mode == "100644"
    plain = apply(submit(writer, target.repository, [file("bin/tool", "#!/bin/sh\n", mode="100644")]))
    assert plain.status == Status.COMMITTED and results(plain) == ["updated"]
    assert target.entry("bin/tool").mode == "100644" and target.read("bin/tool") == b"#!/bin/sh\n"


def test_binary_changed_on_both_sides_is_a_conflict(target, writer):
    apply(submit(writer, target.repository, [file("b.bin", b"\x00\x01", encoding="base64")]))
    base = target.sha_of("b.bin")
    target.commit_directly({"b.bin": b"\x00\x02"})
    promotion = apply(submit(writer, target.repository, [file("b.bin", b"\x00\x03", encoding="base64", base_sha=base)]))
    assert results(promotion) == ["conflict"]


def test_path_under_a_file_is_an_error_not_a_crash(target, writer):
    apply(submit(writer, target.repository, [file("plain", "file\n")]))
    promotion = apply(submit(writer, target.repository, [file("plain/child.txt", "x\n")]))
    assert promotion.status == Status.FAILED and results(promotion) == ["error"]
    assert "is a file" in promotion.files.get().message


def test_commit_train_lands_a_chain_with_one_ref_update(target, writer, monkeypatch):
    """One compare-and-swap for the chain; on GraphQL, one call landing the chain's mutations."""
    queued = [submit(writer, target.repository, [file(f"train/{i}.txt", f"{i}\n")], message=f"m{i}") for i in range(4)]
    calls = []
    real = getattr(type(target.scm), target.moves_branch)
    monkeypatch.setattr(type(target.scm), target.moves_branch, lambda self, *a: calls.append(a) or real(self, *a))
    drain_lane(target.repository.pk, "main")
    landed = [Promotion.objects.get(pk=p.pk) for p in queued]
    assert [p.status for p in landed] == [Status.COMMITTED] * 4
    assert len(calls) == 1
    history = target.commits()
    assert [c.sha for c in history[:4]] == [p.commit_sha for p in reversed(landed)]
    for promotion, commit in zip(reversed(landed), history[:4], strict=True):
        assert promotion_ids_in(commit.message) == {promotion.pk}


def test_train_later_promotion_sees_earlier_ones(target, writer):
    first = submit(writer, target.repository, [file("shared.txt", "a\nb\nc\nd\ne\n")])
    drain_lane(target.repository.pk, "main")
    base = target.sha_of("shared.txt")
    one = submit(writer, target.repository, [file("shared.txt", "A\nb\nc\nd\ne\n", base_sha=base)])
    two = submit(writer, target.repository, [file("shared.txt", "a\nb\nc\nd\nE\n", base_sha=base)])
    drain_lane(target.repository.pk, "main")
    one.refresh_from_db(), two.refresh_from_db(), first.refresh_from_db()
    assert (results(one), results(two)) == (["updated"], ["merged"])
    assert target.read("shared.txt") == b"A\nb\nc\nd\nE\n"
