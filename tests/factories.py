import factory
from factory.django import DjangoModelFactory

from promotions.audit import Actor
from promotions.models import Event, FileChange, Pod, Promotion, Repository
from promotions.services.access import key_issue


class RepositoryFactory(DjangoModelFactory):
    """A registered repository; a `local` one exists on disk with its initial commit."""

    class Meta:
        model = Repository
        django_get_or_create = ["full_name"]
        skip_postgeneration_save = True

    full_name = factory.Sequence(lambda n: f"acme/repo{n}")
    backend = Repository.Backend.LOCAL
    default_branch = "main"

    @factory.post_generation
    def on_disk(repository, create, extracted, **kwargs):
        if create and repository.backend == Repository.Backend.LOCAL:
            from promotions.scm.local import init_repository

            init_repository(repository.full_name, repository.default_branch)


class PodFactory(DjangoModelFactory):
    """A pod; its clear-text key is on `pod.raw_key` (only factories keep it)."""

    class Meta:
        model = Pod
        django_get_or_create = ["name"]
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"pod-{n}")

    @factory.post_generation
    def repositories(pod, create, extracted, **kwargs):
        if create and extracted:
            pod.repositories.set(extracted)

    @factory.post_generation
    def raw_key(pod, create, extracted, **kwargs):
        pod.raw_key = key_issue(pod=pod, actor=Actor.system("tests")) if create else None


class PromotionFactory(DjangoModelFactory):
    class Meta:
        model = Promotion

    pod = factory.SubFactory(PodFactory)
    repository = factory.SubFactory(RepositoryFactory)
    branch = "main"
    commit_message = factory.Sequence(lambda n: f"Change {n}")
    reasoning_trace = "Because the task asked for it."


class FileChangeFactory(DjangoModelFactory):
    class Meta:
        model = FileChange

    promotion = factory.SubFactory(PromotionFactory)
    position = factory.Sequence(lambda n: n)
    path = factory.Sequence(lambda n: f"outputs/file{n}.txt")
    content = factory.LazyAttribute(lambda f: f"content of {f.path}\n".encode())


class EventFactory(DjangoModelFactory):
    class Meta:
        model = Event

    promotion = factory.SubFactory(PromotionFactory)
    actor_kind = Event.ActorKind.SYSTEM
    actor_name = "worker"
    from_status = ""
    to_status = Promotion.Status.QUEUED
