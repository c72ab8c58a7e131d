"""Every REST operation the emulator answers: method, path template (as in GitHub's
OpenAPI description; also the statistics key), handler, and the documentation page
its errors name, grouped as GitHub's documentation groups them."""

from __future__ import annotations

from . import apps, contents, git, graphql, pulls, repos, rulesets, users
from .core import Route

R = "/repos/{owner}/{repo}"
ROUTES = [
    Route("GET", "/user", users.get_user, "users/users#get-the-authenticated-user"),
    Route(
        "GET", "/app/installations", apps.list_installations, "apps/apps#list-installations-for-the-authenticated-app"
    ),
    Route(
        "POST",
        "/app/installations/{installation_id}/access_tokens",
        apps.create_installation_token,
        "apps/apps#create-an-installation-access-token-for-an-app",
    ),
    Route("POST", "/user/repos", repos.create_user_repo, "repos/repos#create-a-repository-for-the-authenticated-user"),
    Route("POST", "/orgs/{org}/repos", repos.create_org_repo, "repos/repos#create-an-organization-repository"),
    Route("GET", R, repos.get_repo, "repos/repos#get-a-repository"),
    Route(
        "GET",
        f"{R}/installation",
        apps.get_repo_installation,
        "apps/apps#get-a-repository-installation-for-the-authenticated-app",
    ),
    Route("GET", f"{R}/branches", repos.list_branches, "branches/branches#list-branches"),
    Route("GET", f"{R}/branches/{{branch}}", repos.get_branch, "branches/branches#get-a-branch"),
    Route("GET", f"{R}/commits", repos.list_commits, "commits/commits#list-commits"),
    Route("GET", f"{R}/commits/{{ref}}", repos.get_commit, "commits/commits#get-a-commit"),
    Route("GET", f"{R}/git/ref/{{ref}}", git.get_ref, "git/refs#get-a-reference"),
    Route("GET", f"{R}/git/refs/{{ref}}", git.get_refs, "git/refs#get-a-reference"),
    Route("GET", f"{R}/git/matching-refs/{{ref}}", git.matching_refs, "git/refs#list-matching-references"),
    Route("POST", f"{R}/git/refs", git.create_ref, "git/refs#create-a-reference"),
    Route("PATCH", f"{R}/git/refs/{{ref}}", git.update_ref, "git/refs#update-a-reference"),
    Route("DELETE", f"{R}/git/refs/{{ref}}", git.delete_ref, "git/refs#delete-a-reference"),
    Route("GET", f"{R}/git/trees/{{tree_sha}}", git.get_tree, "git/trees#get-a-tree"),
    Route("POST", f"{R}/git/trees", git.create_tree, "git/trees#create-a-tree"),
    Route("POST", f"{R}/git/blobs", git.create_blob, "git/blobs#create-a-blob"),
    Route("GET", f"{R}/git/blobs/{{file_sha}}", git.get_blob, "git/blobs#get-a-blob"),
    Route("POST", f"{R}/git/commits", git.create_commit, "git/commits#create-a-commit"),
    Route("GET", f"{R}/git/commits/{{commit_sha}}", git.get_git_commit, "git/commits#get-a-commit-object"),
    Route("GET", f"{R}/contents/", contents.get_contents, "repos/contents#get-repository-content"),
    Route("GET", f"{R}/contents/{{path}}", contents.get_contents, "repos/contents#get-repository-content"),
    Route("PUT", f"{R}/contents/{{path}}", contents.put_contents, "repos/contents#create-or-update-file-contents"),
    Route("DELETE", f"{R}/contents/{{path}}", contents.delete_contents, "repos/contents#delete-a-file"),
    Route("POST", f"{R}/pulls", pulls.create_pull, "pulls/pulls#create-a-pull-request"),
    Route("GET", f"{R}/pulls", pulls.list_pulls, "pulls/pulls#list-pull-requests"),
    Route("GET", f"{R}/pulls/{{pull_number}}", pulls.get_pull, "pulls/pulls#get-a-pull-request"),
    Route("POST", f"{R}/rulesets", rulesets.create_ruleset, "repos/rules#create-a-repository-ruleset"),
    Route("GET", f"{R}/rulesets", rulesets.list_rulesets, "repos/rules#get-all-repository-rulesets"),
    Route("GET", f"{R}/rulesets/{{ruleset_id}}", rulesets.get_ruleset, "repos/rules#get-a-repository-ruleset"),
    Route("GET", f"{R}/rules/branches/{{branch}}", rulesets.branch_rules, "repos/rules#get-rules-for-a-branch"),
    # GraphQL: queries are reads, mutations writes; /api/graphql is Enterprise Server's place.
    Route("POST", "/graphql", graphql.graphql, "graphql", writes=graphql.ran_mutation),
    Route("POST", "/api/graphql", graphql.graphql, "graphql", writes=graphql.ran_mutation),
]
