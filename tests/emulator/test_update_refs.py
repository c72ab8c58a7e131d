"""The emulator's GraphQL `updateRefs` (https://docs.github.com/graphql/reference/mutations#updaterefs),
which moves the branch after Patchgate's REST commits: an exact compare-and-swap on
`beforeOid` (a reset to an ancestor is seen), no non-fast-forward without `force`, every
update or none, the schema preview's media type required, a write in the statistics.
Rulesets on it are in test_rulesets."""

import pytest

from tests.emulator.helpers import TOKEN, commit_on, graphql, head_of

pytestmark = pytest.mark.usefixtures("github_graphql_schema")

PREVIEW = {**TOKEN, "Accept": "application/vnd.github.update-refs-preview+json"}
UPDATE_REFS = "mutation Move($input: UpdateRefsInput!) { updateRefs(input: $input) { clientMutationId } }"
ZERO = "0" * 40


def repository_id(emulator) -> str:
    return graphql(emulator, '{ repository(owner: "acme", name: "widgets") { id } }')["data"]["repository"]["id"]


def move(emulator, *updates, headers=PREVIEW, **given) -> dict:
    variables = {"input": {"repositoryId": repository_id(emulator), "refUpdates": list(updates), **given}}
    return graphql(emulator, UPDATE_REFS, variables, headers=headers)


def update(name, before, after, **extra) -> dict:
    return {"name": name, "beforeOid": before, "afterOid": after, **extra}


def refused_without_a_reason(answer) -> bool:
    """GitHub's generic error: no `type`, nothing that says the ref moved."""
    [error] = answer["errors"]
    return (
        answer["data"] == {"updateRefs": None}
        and "type" not in error
        and error["message"].startswith("Something went wrong while executing your query.")
    )


def test_the_repository_id_is_its_rest_node_id(github_emulator, api):
    assert repository_id(github_emulator) == api("GET", "").json()["node_id"]


def test_a_branch_moves_from_exactly_its_before_oid_in_one_write(github_emulator, api):
    head = head_of(api)
    ours = commit_on(api, head, "a.txt", "a\n")
    given = {"repositoryId": repository_id(github_emulator), "refUpdates": [update("refs/heads/main", head, ours)]}
    github_emulator.reset_stats()
    answer = graphql(github_emulator, UPDATE_REFS, {"input": {**given, "clientMutationId": "c1"}}, headers=PREVIEW)
    stats = github_emulator.stats()
    assert answer == {"data": {"updateRefs": {"clientMutationId": "c1"}}}
    assert stats["writes"] == 1 and stats["by_route"] == {"POST /graphql": 1}
    assert head_of(api) == ours


def test_a_branch_reset_to_an_ancestor_is_seen_and_kept(github_emulator, api):
    base = head_of(api)
    theirs = commit_on(api, base, "theirs.txt", "theirs\n")
    api("PATCH", "/git/refs/heads/main", {"sha": theirs})
    ours = commit_on(api, theirs, "mine.txt", "mine\n")
    api("PATCH", "/git/refs/heads/main", {"sha": base, "force": True})  # someone resets main meanwhile
    # The REST ref update would take `ours`: it descends from `base`. updateRefs does not.
    answer = move(github_emulator, update("refs/heads/main", theirs, ours))
    assert refused_without_a_reason(answer) and head_of(api) == base


def test_a_branch_moved_forward_meanwhile_is_refused_and_kept(github_emulator, api):
    head = head_of(api)
    theirs = commit_on(api, head, "theirs.txt", "theirs\n")
    api("PATCH", "/git/refs/heads/main", {"sha": theirs})
    ours = commit_on(api, head, "mine.txt", "mine\n")
    assert refused_without_a_reason(move(github_emulator, update("refs/heads/main", head, ours)))
    assert head_of(api) == theirs


def test_a_non_fast_forward_needs_force(github_emulator, api):
    head = head_of(api)
    first = commit_on(api, head, "first.txt", "1\n")
    api("PATCH", "/git/refs/heads/main", {"sha": first})
    sideways = commit_on(api, head, "sideways.txt", "s\n")
    assert refused_without_a_reason(move(github_emulator, update("refs/heads/main", first, sideways)))
    assert head_of(api) == first
    assert "errors" not in move(github_emulator, update("refs/heads/main", first, sideways, force=True))
    assert head_of(api) == sideways


def test_every_update_lands_or_none(github_emulator, api):
    head = head_of(api)
    ours = commit_on(api, head, "a.txt", "a\n")
    api("POST", "/git/refs", {"ref": "refs/heads/feature", "sha": head})
    stale = move(github_emulator, update("refs/heads/main", head, ours), update("refs/heads/feature", ours, head))
    assert refused_without_a_reason(stale) and head_of(api) == head
    # The zero oid: a ref that must not exist yet, or a ref deleted.
    answer = move(
        github_emulator,
        update("refs/heads/main", head, ours),
        update("refs/heads/new", ZERO, ours),
        update("refs/heads/feature", head, ZERO),
    )
    assert "errors" not in answer, answer
    assert head_of(api) == ours and api("GET", "/git/ref/heads/new").json()["object"]["sha"] == ours
    assert api("GET", "/git/ref/heads/feature").status_code == 404


def test_without_the_preview_media_type_the_mutation_is_unknown_and_nothing_moves(github_emulator, api):
    head = head_of(api)
    ours = commit_on(api, head, "a.txt", "a\n")
    github_emulator.reset_stats()
    answer = move(github_emulator, update("refs/heads/main", head, ours), headers=TOKEN)
    assert answer == {
        "errors": [
            {
                "message": "Field 'updateRefs' doesn't exist on type 'Mutation'",
                "locations": [{"line": 1, "column": 43}],
                "path": ["mutation Move", "updateRefs"],
                "extensions": {"code": "undefinedField", "typeName": "Mutation", "fieldName": "updateRefs"},
            }
        ]
    }
    assert head_of(api) == head and github_emulator.stats()["writes"] == 0


def test_input_github_would_refuse_is_refused(github_emulator, api):
    head = head_of(api)
    missing = move(github_emulator, {"name": "refs/heads/main", "beforeOid": head})
    assert missing["errors"][0]["message"] == (
        "Variable $input of type UpdateRefsInput! was provided invalid value for refUpdates.0.afterOid "
        "(Expected value to not be null)"
    )
    unknown = graphql(
        github_emulator,
        UPDATE_REFS,
        {"input": {"repositoryId": "nope", "refUpdates": [update("refs/heads/main", head, head)]}},
        headers=PREVIEW,
    )
    assert unknown["errors"][0]["type"] == "NOT_FOUND"
    assert unknown["errors"][0]["message"] == "Could not resolve to a node with the global id of 'nope'"
    absent = move(github_emulator, update("refs/heads/main", head, "c" * 40))
    assert absent["errors"][0]["type"] == "UNPROCESSABLE" and head_of(api) == head
