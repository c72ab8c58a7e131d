"""A request shape validates with one instance per process (InputSerializer.validated):
what it accepts, what it refuses and the words of each refusal are DRF's own
is_valid's, and requests validated at once on many threads keep apart."""

import copy
import threading

import pytest
from django.http import QueryDict
from rest_framework import serializers

from promotions.api.serializers import FileQuerySerializer, FilesQuerySerializer, PromotionInputSerializer

FILE = {"path": "outputs/a.md", "content": "a\n"}
BODIES = [
    {"commit_message": "m", "files": [FILE]},
    {
        "repository": " acme/site ",
        "branch": "task-1",
        "commit_message": "m",
        "reasoning_trace": "why",
        "metadata": {"task_id": "T-1"},
        "atomic": False,
        "wait": 5,
        "files": [
            FILE,
            {"path": "b.bin", "content": "AAEC", "encoding": "base64", "base_sha": "A" * 40, "mode": "100755"},
            {"path": "c.md", "operation": "delete", "base_sha": None},
        ],
    },
    None,
    [],
    "text",
    {},
    {"commit_message": "m", "files": []},
    {"commit_message": "m", "files": "outputs/a.md"},
    {"commit_message": 42, "files": [FILE]},
    {"commit_message": "m", "files": [{"path": "a", "content": 1}]},
    {"commit_message": "m", "files": [FILE, {"path": "b"}]},
    {"commit_message": "m", "files": [{"path": "a", "content": "x", "base_sha": "abc"}]},
    {"commit_message": "m", "files": [{"path": "a", "content": "***", "encoding": "base64"}]},
    {"commit_message": "m", "files": [{"path": "a", "operation": "delete", "content": "x"}]},
    {"commit_message": "m", "files": [{"path": "a", "operation": "rename", "content": "x"}]},
    {"commit_message": "m", "metadata": [], "wait": 31, "atomic": "maybe", "files": [FILE]},
    {"commit_message": "m", "files": [{"path": "a\x00", "content": "x"}]},
    {"commit_message": "", "branch": "b" * 256, "files": [FILE]},
]


def drf_is_valid(shape, data):
    serializer = shape(data=data)
    if serializer.is_valid():
        return "valid", serializer.validated_data
    return "refused", serializer.errors


def shared(shape, data):
    try:
        return "valid", shape.validated(data)
    except serializers.ValidationError as error:
        return "refused", error.detail


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_a_promotion_body_is_judged_and_named_as_is_valid_would(body):
    assert shared(PromotionInputSerializer, copy.deepcopy(body)) == drf_is_valid(
        PromotionInputSerializer, copy.deepcopy(body)
    )


@pytest.mark.parametrize(
    "query",
    ["path=a.md", "path=a.md&branch=main&repository=acme/site", "", "branch=main", f"path=a&branch={'b' * 256}"],
)
def test_a_file_query_is_judged_as_is_valid_would(query):
    assert shared(FileQuerySerializer, QueryDict(query)) == drf_is_valid(FileQuerySerializer, QueryDict(query))


@pytest.mark.parametrize("body", [{"paths": ["a", "b"]}, {"paths": []}, {"paths": "a"}, {"paths": ["a"] * 1000}, {}])
def test_a_files_query_is_judged_as_is_valid_would(body):
    assert shared(FilesQuerySerializer, body) == drf_is_valid(FilesQuerySerializer, body)


def test_bodies_validated_at_once_on_many_threads_keep_apart():
    outcomes: dict[int, list] = {}

    def validate(thread: int) -> None:
        seen = outcomes.setdefault(thread, [])
        for number in range(200):
            tag = f"{thread}-{number}"
            body = {"commit_message": tag, "files": [{"path": f"{tag}/{i}.md", "content": tag} for i in range(3)]}
            if number % 3 == 0:
                body["files"][1]["base_sha"] = "bad"  # a refusal now and then, on the same shared shape
            seen.append((tag, shared(PromotionInputSerializer, body)))

    threads = [threading.Thread(target=validate, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for results in outcomes.values():
        assert len(results) == 200
        for tag, (verdict, data) in results:
            if verdict == "refused":
                assert list(data) == ["files"] and data["files"][1] == {
                    "base_sha": ["Must be a 40-character hex blob sha, or null for create-only."]
                }
                continue
            assert data["commit_message"] == tag
            assert [(f["path"], f["content_bytes"]) for f in data["files"]] == [
                (f"{tag}/{i}.md", tag.encode()) for i in range(3)
            ]
