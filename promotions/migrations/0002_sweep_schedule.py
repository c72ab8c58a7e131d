"""Every minute, wake branch lanes whose work nobody is doing (see tasks.sweep_lanes)."""

from django.db import migrations


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="patchgate: sweep lanes",
        defaults={"func": "promotions.tasks.sweep_lanes", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="patchgate: sweep lanes").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("promotions", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
