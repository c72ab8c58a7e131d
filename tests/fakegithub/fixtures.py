"""pytest fixtures of the emulator: one server for the session, reset for each test."""

import pytest

from . import FakeGitHub


@pytest.fixture(scope="session")
def github_emulator_server():
    emulator = FakeGitHub().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def github_emulator(github_emulator_server):
    """The session's emulator, with no repository, fault, latency or statistics left."""
    github_emulator_server.reset()
    github_emulator_server.set_latency(0)
    return github_emulator_server
