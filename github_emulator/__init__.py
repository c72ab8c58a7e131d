"""A GitHub REST API emulator, for Patchgate's tests and benchmarks and for running
Patchgate by hand without GitHub: PyGithub talks to it over real HTTP, and it
answers as GitHub does (git-exact shas, GitHub's status codes, messages, headers
and shapes, held to GitHub's OpenAPI description), with faults and latency to
inject. `python -m github_emulator --help` serves it on its own."""

from .server import GitHubEmulator

__all__ = ["GitHubEmulator"]
