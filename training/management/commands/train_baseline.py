import time

from django.core.management.base import BaseCommand, CommandError

from training.datasets import MnistError
from training.services import baseline_train
from training.train import TrainConfig


class Command(BaseCommand):
    help = "Train the baseline CNN on MNIST, evaluate it, register it, and activate it when none is active."

    def add_arguments(self, parser):
        defaults = TrainConfig()
        parser.add_argument("--epochs", type=int, default=defaults.epochs)
        parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--train-limit", type=int, default=None, help="use only the first N training images")
        parser.add_argument("--test-limit", type=int, default=None)
        parser.add_argument("--if-empty", action="store_true", help="do nothing when a version is already registered")

    def handle(self, *args, **opts):
        from models.models import ModelVersion

        if opts["if_empty"] and ModelVersion.objects.exists():
            self.stdout.write("The registry already holds a model; not training.")
            return
        if opts["epochs"] < 1:
            raise CommandError("--epochs must be at least 1")
        config = TrainConfig(
            epochs=opts["epochs"],
            batch_size=opts["batch_size"],
            seed=opts["seed"],
            train_limit=opts["train_limit"],
            test_limit=opts["test_limit"],
        )
        started = time.monotonic()

        def on_epoch(epoch, epochs, logs):
            self.stdout.write(
                f"epoch {epoch}/{epochs}  loss {logs.get('loss', 0):.4f}  accuracy {logs.get('accuracy', 0):.4f}"
                f"  validation {logs.get('val_accuracy', 0):.4f}  ({time.monotonic() - started:.0f}s)"
            )

        self.stdout.write(f"Training the baseline CNN for {config.epochs} epochs...")
        try:
            run = baseline_train(config=config, on_epoch=on_epoch, verbose=2 if opts["verbosity"] > 1 else 0)
        except MnistError as exc:
            raise CommandError(str(exc)) from exc
        version = run.result
        m = version.metrics
        self.stdout.write(
            self.style.SUCCESS(
                f"Registered {version}: MNIST validation accuracy {m['validation_accuracy']:.4%} "
                f"(epoch {m['best_epoch']} kept), MNIST test accuracy {version.mnist_accuracy:.4%}, "
                f"temperature {m['temperature']:.3f}, test ECE {m['mnist_ece_raw']:.2%} -> {m['mnist_ece']:.2%}, "
                f"trained in {time.monotonic() - started:.0f}s, status {version.status}"
            )
        )
