from django.core.management.base import BaseCommand, CommandError

from promotions.audit import Actor
from promotions.errors import DomainError
from promotions.models import Repository
from promotions.services.access import repository_register


class Command(BaseCommand):
    help = (
        "Register a target repository: a local one is created as a bare repository with an initial commit; "
        "a github one must be reachable with the configured credentials (GITHUB_API_URL, GITHUB_TOKEN or App)."
    )

    def add_arguments(self, parser):
        parser.add_argument("full_name", metavar="OWNER/NAME")
        parser.add_argument("--backend", choices=Repository.Backend.values, default=Repository.Backend.LOCAL)
        parser.add_argument("--default-branch", default="main")
        parser.add_argument(
            "--commit-path",
            choices=Repository.CommitPath.values,
            default=Repository.CommitPath.AUTO,
            help="github only: how commits reach GitHub (auto: GraphQL where the branch requires signed commits)",
        )

    def handle(self, full_name, backend, default_branch, commit_path, **options):
        try:
            repository, created = repository_register(
                full_name=full_name,
                backend=backend,
                default_branch=default_branch,
                commit_path=commit_path,
                actor=Actor.command("addrepo"),
            )
        except DomainError as refusal:
            raise CommandError(f"{full_name} was not registered: {refusal.detail}") from None
        self.stdout.write(
            f"{'Registered' if created else 'Already registered'}: {full_name} ({backend}, {default_branch})"
        )
