"""The "Reviewers" group: review samples and see models, nothing more.

Permissions are normally created after all migrations ran (post_migrate), so
on a fresh database they are created here first."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Reviewers"
PERMISSIONS = [
    ("digits", "sample", "view_sample"),
    ("digits", "sample", "review_sample"),
    ("digits", "samplereview", "view_samplereview"),
    ("models", "modelversion", "view_modelversion"),
    ("models", "modelactivation", "view_modelactivation"),
]


def create_group(apps, schema_editor):
    for app_label in {app_label for app_label, _, _ in PERMISSIONS}:
        app_config = apps.get_app_config(app_label)
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True  # create_permissions skips apps without models
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    for app_label, model, codename in PERMISSIONS:
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, content_type__model=model, codename=codename)
        )


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("digits", "0004_review_permission_and_undo"),
        ("models", "0002_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
