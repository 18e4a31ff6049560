"""Read the held-out and recent drawings with versions registered before
readings existed (a new version gets its readings from a worker by itself)."""

from django.core.management.base import BaseCommand, CommandError

from models.selectors import model_version_get, model_version_list
from training.readings import version_readings_compute


class Command(BaseCommand):
    help = "Compute and store how versions read the held-out and recent drawings (all versions, or those named)."

    def add_arguments(self, parser):
        parser.add_argument("versions", nargs="*", type=int, help="version numbers (default: every version)")

    def handle(self, *args, versions: list[int], **options):
        chosen = [model_version_get(number=n) for n in versions] if versions else list(model_version_list())
        if None in chosen:
            raise CommandError(f"No such version among {versions}.")
        for version in sorted(chosen, key=lambda v: v.version):
            stored = version_readings_compute(version_id=version.pk)
            self.stdout.write(f"{version}: {stored} new readings")
