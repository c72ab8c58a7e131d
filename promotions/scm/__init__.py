"""Pick the adapter of the SCM port for a repository's backend."""

from .port import ScmPort


def adapter_for(repository) -> ScmPort:
    if repository.backend == "github":
        from .github.adapter import GitHubAdapter

        return GitHubAdapter(repository.full_name, repository.commit_path)
    from .local import LocalAdapter

    return LocalAdapter(repository.full_name)
