"""Every answer of the emulator, success and refusal alike, validated against
GitHub's own OpenAPI description (`@octokit/openapi`)."""

import requests

from tests.emulator.helpers import AUTHOR, TOKEN, Api, R, head_of, mismatches, registered_app_jwt


def test_every_answer_matches_githubs_openapi_description(github_openapi, github_emulator):
    github_emulator.create_repository("acme/widgets")
    api = Api(github_emulator)
    head = head_of(api)
    blob = api("POST", "/git/blobs", {"content": "YmluYXJ5", "encoding": "base64"})
    tree = api("POST", "/git/trees", {"base_tree": head, "tree": [
        {"path": "dir/a.txt", "mode": "100644", "type": "blob", "content": "a\n"},
        {"path": "dir/b.bin", "mode": "100755", "type": "blob", "sha": blob.json()["sha"]},
    ]})  # fmt: skip
    commit = api(
        "POST", "/git/commits", {"message": "m", "tree": tree.json()["sha"], "parents": [head], "author": AUTHOR}
    )
    sha = commit.json()["sha"]
    created_file = api("PUT", "/contents/new.txt", {"message": "new", "content": "bmV3Cg=="})
    updated_file = api(
        "PUT",
        "/contents/new.txt",
        {"message": "upd", "content": "dXBkCg==", "sha": created_file.json()["content"]["sha"]},
    )
    new_ref = api("POST", "/git/refs", {"ref": "refs/heads/feature", "sha": head})
    moved_ref = api("PATCH", "/git/refs/heads/feature", {"sha": sha})
    pull = api("POST", "/pulls", {"title": "t", "head": "feature", "base": "main", "body": None})
    app_jwt = registered_app_jwt(github_emulator, app_id=7, installation_id=70)
    answers = [
        (
            "POST",
            "/app/installations/{installation_id}/access_tokens",
            requests.post(f"{github_emulator.url}/app/installations/70/access_tokens", headers=app_jwt, timeout=5),
        ),
        (
            "POST",
            "/app/installations/{installation_id}/access_tokens",
            requests.post(f"{github_emulator.url}/app/installations/71/access_tokens", headers=app_jwt, timeout=5),
        ),
        (
            "POST",
            "/app/installations/{installation_id}/access_tokens",
            requests.post(f"{github_emulator.url}/app/installations/70/access_tokens", headers=TOKEN, timeout=5),
        ),
        ("GET", "/user", requests.get(f"{github_emulator.url}/user", headers=TOKEN, timeout=5)),
        (
            "POST",
            "/orgs/{org}/repos",
            requests.post(f"{github_emulator.url}/orgs/acme/repos", json={"name": "x"}, headers=TOKEN, timeout=5),
        ),
        (
            "POST",
            "/user/repos",
            requests.post(
                f"{github_emulator.url}/user/repos", json={"name": "y", "auto_init": True}, headers=TOKEN, timeout=5
            ),
        ),
        ("GET", R, api("GET", "")),
        ("GET", R, requests.get(f"{github_emulator.url}/repos/acme/absent", timeout=5)),
        ("GET", f"{R}/branches", api("GET", "/branches")),
        ("GET", f"{R}/branches/{{branch}}", api("GET", "/branches/main")),
        ("GET", f"{R}/branches/{{branch}}", api("GET", "/branches/absent")),
        ("GET", f"{R}/git/ref/{{ref}}", api("GET", "/git/ref/heads/main")),
        ("GET", f"{R}/git/ref/{{ref}}", api("GET", "/git/ref/heads/absent")),
        ("GET", f"{R}/git/matching-refs/{{ref}}", api("GET", "/git/matching-refs/heads")),
        ("POST", f"{R}/git/refs", new_ref),
        ("POST", f"{R}/git/refs", api("POST", "/git/refs", {"ref": "refs/heads/feature", "sha": head})),
        ("PATCH", f"{R}/git/refs/{{ref}}", moved_ref),
        ("PATCH", f"{R}/git/refs/{{ref}}", api("PATCH", "/git/refs/heads/feature", {"sha": head})),
        ("GET", f"{R}/git/trees/{{tree_sha}}", api("GET", f"/git/trees/{sha}", params={"recursive": "1"})),
        ("GET", f"{R}/git/trees/{{tree_sha}}", api("GET", f"/git/trees/{'0' * 40}")),
        ("POST", f"{R}/git/trees", tree),
        (
            "POST",
            f"{R}/git/trees",
            api(
                "POST",
                "/git/trees",
                {"base_tree": "f" * 40, "tree": [{"path": "a", "mode": "100644", "type": "blob", "content": ""}]},
            ),
        ),
        ("POST", f"{R}/git/blobs", blob),
        ("GET", f"{R}/git/blobs/{{file_sha}}", api("GET", f"/git/blobs/{blob.json()['sha']}")),
        ("POST", f"{R}/git/commits", commit),
        ("POST", f"{R}/git/commits", api("POST", "/git/commits", {"message": "m", "tree": "a" * 40})),
        ("GET", f"{R}/git/commits/{{commit_sha}}", api("GET", f"/git/commits/{sha}")),
        ("GET", f"{R}/commits", api("GET", "/commits", params={"sha": "main"})),
        ("GET", f"{R}/commits/{{ref}}", api("GET", f"/commits/{sha}")),
        ("GET", f"{R}/contents/{{path}}", api("GET", "/contents/new.txt")),
        ("GET", f"{R}/contents/{{path}}", api("GET", "/contents/absent.txt")),
        ("PUT", f"{R}/contents/{{path}}", created_file),
        ("PUT", f"{R}/contents/{{path}}", updated_file),
        ("PUT", f"{R}/contents/{{path}}", api("PUT", "/contents/new.txt", {"message": "m", "content": "eA=="})),
        (
            "DELETE",
            f"{R}/contents/{{path}}",
            api("DELETE", "/contents/new.txt", {"message": "rm", "sha": updated_file.json()["content"]["sha"]}),
        ),
        ("POST", f"{R}/pulls", pull),
        ("POST", f"{R}/pulls", api("POST", "/pulls", {"title": "t", "head": "feature", "base": "main"})),
        ("GET", f"{R}/pulls/{{pull_number}}", api("GET", "/pulls/1")),
        ("GET", f"{R}/pulls/{{pull_number}}", api("GET", "/pulls/9")),
        ("GET", f"{R}/pulls", api("GET", "/pulls", params={"state": "open", "head": "acme:feature"})),
    ]
    # A commit's files of every kind: modified, renamed, removed (and added, binary above).
    moved = api("POST", "/git/trees", {"base_tree": sha, "tree": [
        {"path": "dir/a.txt", "mode": "100644", "type": "blob", "sha": None},
        {"path": "dir/moved.txt", "mode": "100644", "type": "blob", "content": "a\n"},
        {"path": "README.md", "mode": "100644", "type": "blob", "content": "# widgets\nand more\n"},
        {"path": "dir/b.bin", "mode": "100755", "type": "blob", "sha": None},
    ]})  # fmt: skip
    every_kind = api("POST", "/git/commits", {"message": "m", "tree": moved.json()["sha"], "parents": [sha]})
    changed = api("GET", f"/commits/{every_kind.json()['sha']}")
    assert sorted(f["status"] for f in changed.json()["files"]) == ["modified", "removed", "renamed"]
    answers += [
        ("GET", f"{R}/commits/{{ref}}", changed),
        ("GET", f"{R}/commits/{{ref}}", api("GET", f"/commits/{every_kind.json()['sha']}", params={"page": 2})),
        ("GET", f"{R}/commits/{{ref}}", api("GET", f"/commits/{'0' * 40}")),
    ]
    expected = [
        201,
        404,
        401,
        200,
        201,
        201,
        200,
        404,
        200,
        200,
        404,
        200,
        404,
        200,
        201,
        422,
        200,
        422,
        200,
        404,
        201,
        422,
        201,
        200,
        201,
        422,
    ]
    expected += [200, 200, 200, 200, 404, 201, 200, 422, 200, 201, 422, 200, 404, 200, 200, 200, 422]
    assert [answer.status_code for _, _, answer in answers] == expected
    failures = mismatches(github_openapi, answers)
    assert failures == [], "\n".join(failures)
    assert api("GET", "/pulls", params={"head": "acme:feature"}).json()[0]["number"] == 1
