from django.core.management.base import BaseCommand, CommandError

from models.registry import model_version_activate
from models.selectors import model_version_get


class Command(BaseCommand):
    help = "Activate a model version (also rolls back to any earlier version)."

    def add_arguments(self, parser):
        parser.add_argument("version", type=int)
        parser.add_argument("--reason", default="promoted by command")

    def handle(self, *args, **opts):
        version = model_version_get(number=opts["version"])
        if version is None:
            raise CommandError(f"There is no model version {opts['version']}.")
        model_version_activate(version=version, by="manage.py promote", reason=opts["reason"])
        self.stdout.write(self.style.SUCCESS(f"{version} is now active."))
