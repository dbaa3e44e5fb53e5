"""The Researchers group: exactly what a researcher needs to run their own studies.

Which studies they reach is decided by ownership (evaluations.access), not by these permissions.
Accounts, groups and API tokens are the operator's (a superuser's).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Researchers"
PERMISSIONS = {
    "evaluations": {
        "study": ["add", "change", "delete", "view"],
        "candidate": ["add", "change", "delete", "view"],
        "prompt": ["add", "change", "delete", "view"],
        "judge": ["add", "change", "delete", "view"],
        # Outputs are generated: researchers read them and retry failed ones.
        "output": ["change", "view"],
        "pair": ["view"],
        "judgevote": ["view"],
    },
    "raters": {
        "invite": ["add", "change", "delete", "view"],
        # Raters are shared between studies: a researcher reads them and manages memberships.
        "rater": ["view"],
        "membership": ["change", "delete", "view"],
        # Votes are evidence: read, or discarded (a careless rater), never written.
        "vote": ["delete", "view"],
        "assignment": ["view"],
    },
}


def create_group(apps, schema_editor):
    # On a fresh database the permissions are only created after all migrations ran.
    for label in PERMISSIONS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    group, _ = group_model.objects.get_or_create(name=GROUP)
    group.permissions.set(
        [
            permission_model.objects.get(
                content_type__app_label=app, codename=f"{action}_{model}"
            )
            for app, models in PERMISSIONS.items()
            for model, actions in models.items()
            for action in actions
        ]
    )


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("evaluations", "0005_pair_load"),
        ("raters", "0005_assignment_lapsing_and_pair_loads"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
