"""The benchmarks' one set-up: importing this puts the repository on
``sys.path`` (a script's own folder, bench/, is there already), and
``setup()`` starts Django with the project's settings.

    from _django import ROOT  # the repository
    import _django; _django.setup(DEBUG="true")
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def setup(**defaults: str) -> None:
    """Set Django up with ``webapp.settings``; ``defaults`` are environment
    variables set only where the environment has none (TF_CPP_MIN_LOG_LEVEL="3")."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    import django

    django.setup()
