from django.core.exceptions import ValidationError
from django.db import migrations, models

import sequences.addresses

# What the pipeline writes for such an address (sequences.addresses), as of this migration.
CODE = "pipeline.recipient_invalid"
TITLE = "The contact's address is not a valid email address"


def block_unusable_addresses(apps, schema_editor):
    """Contacts saved before the address rule: their pending emails wait for a fix.

    The address is kept as it is, so that an admin sees it and corrects it; nothing is
    sent to it meanwhile, and the Emails tab says why.
    """
    Contact = apps.get_model("sequences", "Contact")
    ScheduledEmail = apps.get_model("sequences", "ScheduledEmail")
    for contact in Contact.objects.only("pk", "email").iterator(chunk_size=2000):
        try:
            sequences.addresses.recipient(contact.email)
        except ValidationError as error:
            raw = sequences.addresses.invalid_address_refusal(contact.email, error)
            ScheduledEmail.objects.filter(
                contact_id=contact.pk, status__in=["scheduled", "retrying"]
            ).update(
                status="blocked",
                next_attempt_at=None,
                status_reason=TITLE,
                last_error=raw,
                error_code=CODE,
                error_category="recipient_address_invalid",
            )


class Migration(migrations.Migration):
    dependencies = [("sequences", "0004_enrollment_stop_cause")]

    operations = [
        migrations.AlterField(
            model_name="contact",
            name="email",
            field=models.CharField(
                max_length=320, validators=[sequences.addresses.validate_contact_address]
            ),
        ),
        migrations.RunPython(block_unusable_addresses, migrations.RunPython.noop),
    ]
