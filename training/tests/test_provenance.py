"""Every model version records the code's revision: the one the Docker build
passed (the image has no .git), else git's."""

import subprocess
from pathlib import Path

from training.provenance import code_revision

ROOT = Path(__file__).resolve().parents[2]


def test_the_revision_the_image_was_built_from_is_recorded(settings):
    settings.GIT_REVISION = "1a2b3c4"
    assert code_revision() == "1a2b3c4"


def test_without_one_git_says(settings):
    settings.GIT_REVISION = ""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    assert code_revision() == head.stdout.strip()
