from django.core.management.base import BaseCommand

from models.selectors import model_version_list


class Command(BaseCommand):
    help = "List registered model versions with their status and metrics."

    def handle(self, *args, **opts):
        rows = list(model_version_list())
        if not rows:
            self.stdout.write("No model versions registered yet (run `python manage.py train_baseline`).")
            return
        self.stdout.write(f"{'version':>8} {'status':<10} {'mnist acc':>9} {'held-out':>8} {'parent':>7}  created")
        for v in rows:
            mnist = f"{v.mnist_accuracy:.4f}" if v.mnist_accuracy is not None else "-"
            held = f"{v.heldout_accuracy:.4f}" if v.heldout_accuracy is not None else "-"
            parent = f"v{v.parent.version}" if v.parent else "-"
            name = f"v{v.version}"
            created = f"{v.created_at:%Y-%m-%d %H:%M}"
            self.stdout.write(f"{name:>8} {v.status:<10} {mnist:>9} {held:>8} {parent:>7}  {created}")
