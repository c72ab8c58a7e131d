"""What is already on the branch, on every target (local, GitHub REST, GitHub GraphQL):
a new path that a macOS or Windows checkout cannot tell from an existing one is that
file's conflict, naming the existing path; symbolic links and submodules are never
written over; a conflict's message reads as the other writer's change, not the pod's."""

import unicodedata

import pytest

from promotions.models import Promotion
from promotions.scm.port import SYMLINK_MODE
from tests.factories import PodFactory
from tests.helpers import apply, client_for, file, results, submit

pytestmark = pytest.mark.django_db

Status = Promotion.Status
SUBMODULE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def writer(target):
    return PodFactory(name="writer", repositories=[target.repository])


def commit_submodule(target, path: str) -> None:
    """Another writer adds a submodule entry (mode 160000, another repository's commit)."""
    scm, head = target.scm, target.head()
    if target.repository.backend == "github":
        requester, url = scm.github.requester, scm.repo.url
        tree_of_head = requester.requestJsonAndCheck("GET", f"{url}/git/commits/{head}")[1]["tree"]["sha"]
        element = {"path": path, "mode": "160000", "type": "commit", "sha": SUBMODULE_COMMIT}
        tree = requester.requestJsonAndCheck(
            "POST", f"{url}/git/trees", input={"base_tree": tree_of_head, "tree": [element]}
        )
        body = {"message": "add a submodule", "tree": tree[1]["sha"], "parents": [head]}
        commit = requester.requestJsonAndCheck("POST", f"{url}/git/commits", input=body)[1]["sha"]
        requester.requestJsonAndCheck("PATCH", f"{url}/git/refs/heads/main", input={"sha": commit})
        return
    from dulwich.objects import Commit

    repo = scm.repo
    parent = repo[head.encode()]
    tree = repo[parent.tree].copy()
    tree[path.encode()] = (0o160000, SUBMODULE_COMMIT.encode())
    repo.object_store.add_object(tree)
    commit = Commit()
    commit.tree, commit.parents, commit.message = tree.id, [parent.id], b"add a submodule"
    commit.author = commit.committer = b"Someone <someone@example.invalid>"
    commit.author_time = commit.commit_time = parent.commit_time + 1
    commit.author_timezone = commit.commit_timezone = 0
    repo.object_store.add_object(commit)
    repo.refs[b"refs/heads/main"] = commit.id


# --- twins of what the branch holds ---------------------------------------------------


def test_a_case_twin_of_a_folder_on_the_branch_is_a_conflict_naming_it(target, writer):
    target.commit_directly({"Docs/Guide.md": b"# Guide\n"})
    head = target.head()

    promotion = apply(submit(writer, target.repository, [file("docs/guide.md", "# guide\n")]))

    assert promotion.status == Status.CONFLICT and results(promotion) == ["conflict"]
    message = promotion.files.get().message
    assert "'Docs'" in message and "letter case" in message and "Docs/guide.md" in message
    assert target.head() == head and target.entry("docs") is None


def test_a_case_twin_of_a_file_beside_it_is_a_conflict_naming_it(target, writer):
    target.commit_directly({"notes/Plan.md": b"plan\n"})

    promotion = apply(submit(writer, target.repository, [file("notes/plan.md", "other plan\n")]))

    assert results(promotion) == ["conflict"]
    assert "'notes/Plan.md'" in promotion.files.get().message
    assert target.read("notes/plan.md") is None and target.read("notes/Plan.md") == b"plan\n"


def test_a_normalisation_twin_is_a_conflict_and_the_other_files_land_when_not_atomic(target, writer):
    decomposed = unicodedata.normalize("NFD", "café.md")
    target.commit_directly({decomposed: b"nfd\n"})

    composed = unicodedata.normalize("NFC", "café.md")
    promotion = apply(submit(writer, target.repository, [file(composed, "nfc\n"), file("ok.md", "ok\n")], atomic=False))

    assert promotion.status == Status.COMMITTED and results(promotion) == ["conflict", "created"]
    assert repr(decomposed)[1:-1] in repr(promotion.files.get(path=composed).message)
    assert target.read("ok.md") == b"ok\n" and target.read(composed) is None


def test_the_exact_path_and_a_new_name_are_not_twins(target, writer):
    target.commit_directly({"Docs/Guide.md": b"# Guide\n"})

    promotion = apply(
        submit(writer, target.repository, [file("Docs/Guide.md", "# Guide 2\n"), file("Docs/other.md", "x\n")])
    )

    assert promotion.status == Status.COMMITTED and results(promotion) == ["updated", "created"]


def test_a_twin_landed_earlier_in_the_same_train_is_seen(target, writer):
    first = submit(writer, target.repository, [file("Reports/q1.md", "q1\n")])
    second = submit(writer, target.repository, [file("reports/q2.md", "q2\n")])

    apply(first)
    second.refresh_from_db()

    assert first.status == Status.COMMITTED
    assert second.status == Status.CONFLICT and "'Reports'" in second.files.get().message


# --- links and submodules ----------------------------------------------------------------


def test_writing_onto_a_symbolic_link_is_refused_and_the_link_kept(target, writer):
    target.commit_directly({"latest": b"reports/q1.md"}, mode=SYMLINK_MODE)
    head = target.head()

    promotion = apply(submit(writer, target.repository, [file("latest", "../../.github/workflows/ci.yml")]))

    assert promotion.status == Status.FAILED and results(promotion) == ["error"]
    assert "symbolic link" in promotion.files.get().message
    assert target.head() == head
    assert target.entry("latest").mode == SYMLINK_MODE and target.read("latest") == b"reports/q1.md"


def test_a_link_is_replaced_by_a_regular_file_only_when_the_pod_names_the_mode(target, writer):
    target.commit_directly({"latest": b"reports/q1.md"}, mode=SYMLINK_MODE)

    promotion = apply(submit(writer, target.repository, [file("latest", "now a file\n", mode="100644")]))

    assert promotion.status == Status.COMMITTED and results(promotion) == ["updated"]
    assert target.entry("latest").mode == "100644" and target.read("latest") == b"now a file\n"


def test_writing_or_deleting_a_submodule_is_refused(target, writer):
    commit_submodule(target, "vendor")
    head = target.head()

    written = apply(submit(writer, target.repository, [file("vendor", "not a repository\n")]))
    deleted = apply(submit(writer, target.repository, [file("vendor")]))

    for promotion in (written, deleted):
        assert promotion.status == Status.FAILED and results(promotion) == ["error"]
        assert "submodule" in promotion.files.get().message
    assert target.head() == head and target.entry("vendor").kind == "commit"


# --- the wording of a conflict ------------------------------------------------------------


def test_a_stale_base_conflict_shows_the_other_change_as_theirs(target, writer):
    apply(submit(writer, target.repository, [file("d.txt", "v1\n")]))
    base = target.sha_of("d.txt")
    target.commit_directly({"d.txt": b"v2 by someone else\n"})

    promotion = apply(submit(writer, target.repository, [file("d.txt", base_sha=base)]))

    message = promotion.files.get().message
    assert "Nothing was written" in message and "your own content is not in it" in message
    assert "a/d.txt (as you read it)" in message and "b/d.txt (on the branch now)" in message
    assert "-v1" in message and "+v2 by someone else" in message
    assert target.read("d.txt") == b"v2 by someone else\n"


def test_an_overlapping_edit_says_which_side_is_the_branch(target, writer):
    apply(submit(writer, target.repository, [file("n.md", "1\n2\n3\n")]))
    base = target.sha_of("n.md")
    target.commit_directly({"n.md": b"1\n2 theirs\n3\n"})

    promotion = apply(submit(writer, target.repository, [file("n.md", "1\n2 mine\n3\n", base_sha=base)]))

    message = promotion.files.get().message
    assert "Nothing was written" in message and "the branch's lines (kept)" in message
    assert "<<<<<<< current\n2 theirs\n=======\n2 mine\n>>>>>>> pod" in message


def test_get_file_shows_the_mode_and_type_of_links_and_executables(target, writer):
    target.commit_directly({"latest": b"reports/q1.md"}, mode=SYMLINK_MODE)
    target.commit_directly({"run.sh": b"#!/bin/sh\n"}, mode="100755")
    api = client_for(writer)

    link = api.get("/api/v1/files", {"path": "latest"}).json()
    tool = api.get("/api/v1/files", {"path": "run.sh"}).json()
    readme = api.get("/api/v1/files", {"path": "README.md"}).json()

    assert (link["mode"], link["type"], link["content"]) == (SYMLINK_MODE, "symlink", "reports/q1.md")
    assert (tool["mode"], tool["type"]) == ("100755", "file")
    assert (readme["mode"], readme["type"]) == ("100644", "file")
