"""A real django-q2 cluster in a child process, on the test database."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.helpers import database_url


@pytest.fixture
def worker_cluster(transactional_db, local_repos_dir, tmp_path):
    """Start `manage.py qcluster` with several workers; stopped after the test."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LOCAL_REPOS_DIR": str(local_repos_dir),
        "Q_WORKERS": os.environ.get("TEST_Q_WORKERS", "4"),
        "RETRY_BASE_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
        # The github backend as the test configured it (the emulator's address).
        "GITHUB_API_URL": settings.GITHUB_API_URL,
        "GITHUB_WEB_URL": settings.GITHUB_WEB_URL,
        "GITHUB_TOKEN": settings.GITHUB_TOKEN,
        "GITHUB_WRITE_LIMITS": settings.GITHUB_WRITE_LIMITS,
    }
    log_path = tmp_path / "qcluster.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        print(log_path.read_text()[-5000:])
