import time

from django.core.management.base import BaseCommand, CommandError

from training.datasets import MnistError
from training.services import baseline_run_request_if_empty, baseline_sizing, baseline_train
from training.train import TrainConfig

FOLLOW_POLL_SECONDS = 1.0


def epoch_line(epoch: int, epochs: int, logs: dict, seconds: float) -> str:
    return (
        f"epoch {epoch}/{epochs}  loss {logs.get('loss', 0):.4f}  accuracy {logs.get('accuracy', 0):.4f}"
        f"  validation {logs.get('val_accuracy', 0):.4f}  ({seconds:.0f}s)"
    )


def version_line(version, seconds: float) -> str:
    m = version.metrics
    return (
        f"Registered {version}: MNIST validation accuracy {m['validation_accuracy']:.4%} "
        f"(epoch {m['best_epoch']} kept), MNIST test accuracy {version.mnist_accuracy:.4%}, "
        f"temperature {m['temperature']:.3f}, test ECE {m['mnist_ece_raw']:.2%} -> {m['mnist_ece']:.2%}, "
        f"trained in {seconds:.0f}s, status {version.status}"
    )


class Command(BaseCommand):
    help = (
        "Train the baseline CNN on MNIST, evaluate it, register it, and activate it when none is active; "
        "or, with --in-worker, queue the first model for the Celery worker when the registry is empty."
    )

    def add_arguments(self, parser):
        defaults = TrainConfig()
        sizing = baseline_sizing()  # BASELINE_EPOCHS, _TRAIN_LIMIT and _TEST_LIMIT where set
        parser.add_argument("--epochs", type=int, default=sizing["epochs"])
        parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument(
            "--train-limit", type=int, default=sizing["train_limit"], help="use only the first N training images"
        )
        parser.add_argument("--test-limit", type=int, default=sizing["test_limit"])
        parser.add_argument("--if-empty", action="store_true", help="do nothing when a version is already registered")
        parser.add_argument(
            "--in-worker",
            action="store_true",
            help="queue it for the worker when the registry is empty and none is queued or running (make run); "
            "BASELINE_EPOCHS, BASELINE_TRAIN_LIMIT and BASELINE_TEST_LIMIT set its size (and the default options)",
        )
        parser.add_argument(
            "--follow", action="store_true", help="print the progress of the baseline in flight until it finishes"
        )

    def handle(self, *args, **opts):
        if opts["in_worker"] or opts["follow"]:
            if opts["in_worker"]:
                self.stdout.write(baseline_run_request_if_empty().message)
            if opts["follow"]:
                try:
                    self.follow()
                except KeyboardInterrupt:  # Ctrl-C in `make run`: the run goes on with the worker
                    pass
            return
        self.train_here(opts)

    def train_here(self, opts) -> None:
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
            self.stdout.write(epoch_line(epoch, epochs, logs, time.monotonic() - started))

        self.stdout.write(f"Training the baseline CNN for {config.epochs} epochs...")
        try:
            run = baseline_train(config=config, on_epoch=on_epoch, verbose=2 if opts["verbosity"] > 1 else 0)
        except MnistError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(version_line(run.result, time.monotonic() - started)))

    def follow(self) -> None:
        """The first model's epochs as the worker records them, then its
        version: the lines `make run` shows while the page waits for it."""
        from training.models import TrainingRun
        from training.selectors import baseline_run_latest

        run = baseline_run_latest()
        if run is None or run.status not in TrainingRun.IN_FLIGHT:
            return
        started, shown, said_running = time.monotonic(), 0, False
        self.stdout.write(f"The first model trains in the worker for {run.epochs} epochs (a few minutes in all).")
        while True:
            run.refresh_from_db()
            if run.status == TrainingRun.Status.RUNNING and not said_running:
                said_running = True
                self.stdout.write("The worker started it: loading TensorFlow and MNIST...")
            for entry in run.history[shown:]:
                self.stdout.write(epoch_line(entry["epoch"], run.epochs, entry, time.monotonic() - started))
            shown = len(run.history)
            if run.status not in TrainingRun.IN_FLIGHT:
                break
            time.sleep(FOLLOW_POLL_SECONDS)
        if run.status == TrainingRun.Status.SUCCEEDED and run.result:
            self.stdout.write(self.style.SUCCESS(version_line(run.result, time.monotonic() - started)))
        else:
            error = run.error.strip().splitlines()[-1] if run.error else run.message
            self.stderr.write(f"The first model's training ({run}) did not succeed: {error}")
