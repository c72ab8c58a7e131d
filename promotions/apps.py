from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = "Patchgate"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from .tasks import start_lane_clock

        # Every django-q2 worker process runs the lane clock (see tasks.start_lane_clock).
        post_spawn.connect(start_lane_clock, dispatch_uid="patchgate lane clock")
