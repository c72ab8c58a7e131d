"""A real django-q2 cluster in a child process, on the test database."""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from promotions.models import Promotion


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


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
    }
    log_path = tmp_path / "qcluster.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
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


def wait_until_final(promotion_ids, timeout=120) -> list[Promotion]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        promotions = list(Promotion.objects.filter(pk__in=promotion_ids).order_by("id"))
        if all(p.is_final for p in promotions):
            return promotions
        time.sleep(0.2)
    pending = Promotion.objects.filter(pk__in=promotion_ids).exclude(status__in=Promotion.FINAL_STATUSES)
    raise AssertionError(f"not final after {timeout}s: {list(pending.values_list('id', 'status'))}")
