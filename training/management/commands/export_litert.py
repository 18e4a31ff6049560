from django.core.management.base import BaseCommand, CommandError

from models.models import ModelVersion
from models.registry import model_version_litert_attach
from models.serving import ArtifactError, read_model
from training.datasets import MnistError, load_mnist
from training.litert import ExportRefused, litert_artifact


class Command(BaseCommand):
    help = (
        "Export the LiteRT artifact (what web processes serve) of every version registered without one, "
        "checked against Keras on the MNIST test set."
    )

    def add_arguments(self, parser):
        parser.add_argument("versions", nargs="*", type=int, help="version numbers (default: every one lacking it)")

    def handle(self, *args, **opts):
        versions = ModelVersion.objects.filter(litert_sha256="").order_by("version")
        if opts["versions"]:
            versions = versions.filter(version__in=opts["versions"])
        if not versions.exists():
            if opts["verbosity"]:
                self.stdout.write("Every version has its LiteRT artifact.")
            return
        try:
            images = load_mnist().x_test
        except MnistError as exc:
            raise CommandError(str(exc)) from exc
        failed = []
        for version in versions:
            try:
                artifact = litert_artifact(read_model(version), architecture=version.architecture, images=images)
            except (ArtifactError, ExportRefused) as exc:
                failed.append(version)
                self.stderr.write(f"{version}: {exc}")
                continue
            model_version_litert_attach(version=version, litert=artifact.content)
            self.stdout.write(
                self.style.SUCCESS(
                    f"{version}: exported, same digit as Keras on {artifact.images_checked} MNIST test images, "
                    f"probabilities within {artifact.max_probability_difference:.1e}"
                )
            )
        if failed:
            raise CommandError(f"Not exported: {', '.join(str(v) for v in failed)}")
