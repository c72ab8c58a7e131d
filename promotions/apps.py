from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = "Patchgate"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save
        from django_q.signals import post_spawn

        from .auth import access_changed
        from .models import ApiKey, Pod, Repository
        from .tasks import start_lane_clock

        # Every django-q2 worker process runs the lane clock (see tasks.start_lane_clock).
        post_spawn.connect(start_lane_clock, dispatch_uid="patchgate lane clock")
        # What a key authenticates as (promotions.auth): its pod, the pod's repositories.
        for model in (ApiKey, Pod, Repository):
            post_save.connect(access_changed, sender=model, dispatch_uid=f"patchgate access {model.__name__} saved")
            post_delete.connect(access_changed, sender=model, dispatch_uid=f"patchgate access {model.__name__} gone")
        m2m_changed.connect(access_changed, sender=Pod.repositories.through, dispatch_uid="patchgate access grants")
