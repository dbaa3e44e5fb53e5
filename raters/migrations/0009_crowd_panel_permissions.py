"""Researchers run their own studies' panels; participants are read only (they are evidence)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Researchers"
PERMISSIONS = {"panel": ["add", "change", "delete", "view"], "panelparticipant": ["view"]}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("raters")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    group = apps.get_model("auth", "Group").objects.filter(name=GROUP).first()
    if group is None:
        return
    permission_model = apps.get_model("auth", "Permission")
    group.permissions.add(
        *[
            permission_model.objects.get(
                content_type__app_label="raters", codename=f"{action}_{model}"
            )
            for model, actions in PERMISSIONS.items()
            for action in actions
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("raters", "0008_crowd_panels")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
