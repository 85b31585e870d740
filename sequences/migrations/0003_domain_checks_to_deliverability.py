from django.db import migrations


class Migration(migrations.Migration):
    """The domain checks belong to the deliverability app now (its 0001 takes them over).

    State only: the tables stay, and deliverability 0002 renames them.
    """

    dependencies = [
        ("sequences", "0002_domain_checks"),
        ("deliverability", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="DomainCheckResult"),
                migrations.DeleteModel(name="DomainCheck"),
            ],
            database_operations=[],
        ),
    ]
