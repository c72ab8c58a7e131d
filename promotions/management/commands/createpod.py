from django.core.management.base import BaseCommand, CommandError

from promotions.audit import Actor
from promotions.errors import DomainError
from promotions.models import Repository
from promotions.services.access import pod_create


class Command(BaseCommand):
    help = "Create a pod and print its new API key on the last line (shown once, stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--repository",
            action="append",
            default=[],
            metavar="OWNER/NAME",
            help="A repository it may write to (repeatable).",
        )
        parser.add_argument(
            "--require-approval", action="store_true", help="Every promotion of this pod waits for a lead's approval."
        )
        scope_options = {
            "--branch": "A branch glob it may write to; default: any branch",
            "--allow-path": "A path glob it may write, e.g. 'outputs/**'; default: any path but sensitive ones",
            "--deny-path": "A path glob it may not write",
        }
        for option, help_text in scope_options.items():
            parser.add_argument(option, action="append", default=[], metavar="GLOB", help=f"{help_text} (repeatable).")

    def handle(self, name, repository, require_approval, branch, allow_path, deny_path, **options):
        repositories = []
        for full_name in repository:
            found = Repository.objects.filter(full_name=full_name).first()
            if found is None:
                raise CommandError(f"repository '{full_name}' is not registered (run addrepo first)")
            repositories.append(found)
        try:
            pod, key = pod_create(
                name=name,
                actor=Actor.command("createpod"),
                repositories=repositories,
                require_approval=require_approval,
                branch_globs=branch,
                allowed_path_globs=allow_path,
                denied_path_globs=deny_path,
            )
        except DomainError as refusal:
            raise CommandError(refusal.detail) from None
        self.stderr.write(f"Created pod '{pod.name}'. Its API key (shown once):")
        self.stdout.write(key)
