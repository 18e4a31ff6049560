"""What every registered version records about how it was made."""

from __future__ import annotations

import subprocess
from pathlib import Path

from django.conf import settings


def code_revision() -> str:
    """The git revision of this code: GIT_REVISION where the image was built
    with it (the image has no .git), else asked of git."""
    if settings.GIT_REVISION not in ("", "unknown"):
        return settings.GIT_REVISION
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def version_params(config, *, kind: str, **extra) -> dict:
    """Hyperparameters, seed and augmentation (``config.as_dict()``), the code
    revision and the kind of training, for ModelVersion.params."""
    return {**config.as_dict(), "code_revision": code_revision(), "kind": kind, **extra}
