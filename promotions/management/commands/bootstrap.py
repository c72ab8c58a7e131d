import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from promotions.audit import Actor
from promotions.models import Pod
from promotions.services.access import pod_create, repository_register

DEMO_REPOSITORY = "demo/sandbox"
DEMO_POD = "demo-pod"

SEED_BATCH = (
    '{"branch": "main", "commit_message": "Add task outputs", "reasoning_trace": "Why: the seed batch.", '
    '"files": [{"path": "outputs/summary.md", "content": "# Summary\\n"}, '
    '{"path": "outputs/data.json", "content": "{\\"ok\\": true}\\n"}, '
    '{"path": "reasoning_trace.md", "content": "Reasoning.\\n"}]}'
)


class Command(BaseCommand):
    help = "Create what `make run` needs if missing: the demo repository, a demo pod and an admin user."

    def handle(self, **options):
        actor = Actor.command("bootstrap")
        repository, _ = repository_register(full_name=DEMO_REPOSITORY, backend="local", actor=actor)
        key = None
        if not Pod.objects.filter(name=DEMO_POD).exists():
            _, key = pod_create(name=DEMO_POD, actor=actor, repositories=[repository])
        password = None
        users = get_user_model()
        if not users.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            users.objects.create_superuser("admin", "admin@example.invalid", password)

        base = settings.PUBLIC_URL
        self.stdout.write(f"\nPatchgate on {base}/  (API docs: {base}/api/docs/)")
        if password:
            self.stdout.write(f"Admin: {base}/admin/  user 'admin', password '{password}' (shown once)")
        else:
            self.stdout.write(
                f"Admin: {base}/admin/  user 'admin' (forgot it? .venv/bin/python manage.py changepassword admin)"
            )
        if key:
            self.stdout.write(f"Demo pod '{DEMO_POD}' API key (shown once, stored hashed): {key}")
        else:
            key = "$PATCHGATE_KEY"  # double-quoted below, so the shell fills it in
            self.stdout.write(
                f"Demo pod '{DEMO_POD}' exists; its key was shown when it was created: export PATCHGATE_KEY=<that key> "
                f"(or a new pod's: .venv/bin/python manage.py createpod NAME --repository {DEMO_REPOSITORY})"
            )
        self.stdout.write(
            "Try it:\n"
            f'  curl -sS -X POST {base}/api/v1/promotions -H "Authorization: Bearer {key}" '
            f"-H 'Content-Type: application/json' -d '{SEED_BATCH}'\n"
        )
