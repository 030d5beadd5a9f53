# A stored random notification secret per registry, replacing the one derived from the secret key and
# the host name. Existing registries get a new secret here: their registries must be given the new
# `portusctl registry config` (the derived secret is no longer accepted).

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from portus.registry.models import Registry as CurrentRegistry


def give_each_registry_a_secret(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    registry_model = apps.get_model("registry", "Registry")
    for registry in registry_model.objects.filter(notification_secret_digest=""):
        # The historical model has no methods: borrow the current model's to fill the two fields.
        current = CurrentRegistry(name=registry.name)
        current.new_notification_secret()
        registry.notification_secret_digest = current.notification_secret_digest
        registry.notification_secret_sealed = current.notification_secret_sealed
        registry.save(update_fields=["notification_secret_digest", "notification_secret_sealed"])


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0004_reservedname"),
    ]

    operations = [
        migrations.AddField(
            model_name="registry",
            name="notification_secret_digest",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="registry",
            name="notification_secret_sealed",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(give_each_registry_a_secret, migrations.RunPython.noop),
    ]
