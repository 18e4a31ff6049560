"""The named test users' password and group (the fixtures are in the root
conftest.py: reviewer, other_reviewer, staff_user, superuser, visitor)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import Group

PASSWORD = "correct horse battery staple"


def reviewers_group_get() -> Group:
    """The group the data migration creates.  A transactional test (the
    browser's) empties the tables, so later tests run the migration's code again."""
    from django.apps import apps as django_apps
    from django.contrib.auth.models import Group

    group = Group.objects.filter(name="Reviewers").first()
    if group is None:
        migration = importlib.import_module("digits.migrations.0005_reviewers_group")
        migration.create_group(django_apps, None)
        group = Group.objects.get(name="Reviewers")
    return group
