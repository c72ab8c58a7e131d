from django.core.management.base import BaseCommand, CommandError

from promotions import services
from promotions.models import Repository
from promotions.validation import branch_problem, repository_name_problem


class Command(BaseCommand):
    help = (
        "Register a target repository: a local one is created as a bare repository with an initial commit; "
        "a github one must be reachable with the configured credentials (GITHUB_API_URL, GITHUB_TOKEN or App)."
    )

    def add_arguments(self, parser):
        parser.add_argument("full_name", metavar="OWNER/NAME")
        parser.add_argument("--backend", choices=Repository.Backend.values, default=Repository.Backend.LOCAL)
        parser.add_argument("--default-branch", default="main")

    def handle(self, full_name, backend, default_branch, **options):
        problem = repository_name_problem(full_name)
        if problem:
            raise CommandError(f"'{full_name}' {problem}")
        problem = branch_problem(default_branch)
        if problem:
            raise CommandError(f"--default-branch '{default_branch}' {problem}")
        try:
            repository, created = services.add_repository(full_name, backend, default_branch)
        except services.RepositoryUnreachable as error:
            raise CommandError(f"{full_name} was not registered: {error}") from None
        if not created and (repository.backend != backend or repository.default_branch != default_branch):
            raise CommandError(
                f"{full_name} is already registered ({repository.backend}, default branch {repository.default_branch})"
            )
        self.stdout.write(f"{'Registered' if created else 'Already registered'}: {full_name} ({backend}, {default_branch})")
