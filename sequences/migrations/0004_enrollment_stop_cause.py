from django.db import migrations, models

# What the services wrote as reasons, before the cause had a field of its own.
CAUSES = (("Hard bounce", "bounced"), ("Contact unsubscribed", "unsubscribed"))


def fill_stop_cause(apps, schema_editor):
    Enrollment = apps.get_model("sequences", "Enrollment")
    stopped = Enrollment.objects.filter(state="stopped")
    for prefix, cause in CAUSES:
        stopped.filter(stopped_reason__startswith=prefix).update(stop_cause=cause)
    # Everything else was stopped by a person.
    stopped.filter(stop_cause="").update(stop_cause="suppressed")


class Migration(migrations.Migration):
    dependencies = [("sequences", "0003_domain_checks_to_deliverability")]

    operations = [
        migrations.AddField(
            model_name="enrollment",
            name="stop_cause",
            field=models.CharField(
                blank=True,
                choices=[
                    ("bounced", "Contact bounced"),
                    ("suppressed", "Contact suppressed"),
                    ("unsubscribed", "Contact unsubscribed"),
                ],
                max_length=16,
            ),
        ),
        migrations.RunPython(fill_stop_cause, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="enrollment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("state", "stopped"),
                    ("stop_cause__in", ["bounced", "suppressed", "unsubscribed"]),
                )
                | models.Q(models.Q(("state", "stopped"), _negated=True), ("stop_cause", "")),
                name="enrollment_stopped_has_cause",
                violation_error_message="A stopped enrollment, and only one, has a stop cause.",
            ),
        ),
    ]
