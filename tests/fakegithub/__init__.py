"""A GitHub REST API emulator for the tests and benchmarks: PyGithub talks to it over
real HTTP, and it answers as GitHub does (git-exact shas, GitHub's status codes,
messages and shapes), with faults and latency to inject."""

from .server import FakeGitHub

__all__ = ["FakeGitHub"]
