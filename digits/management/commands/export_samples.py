from django.core.management.base import BaseCommand, CommandError

from digits.export import samples_export_npz


class Command(BaseCommand):
    help = "Export the approved drawings to a .npz file (x: uint8 N x 28 x 28, y: uint8 N, ids)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="where to write the .npz file")

    def handle(self, *args, path: str, **options):
        try:
            count = samples_export_npz(target=path)
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"Exported {count} approved samples to {path}"))
