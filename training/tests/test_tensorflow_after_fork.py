import subprocess
import sys

from .processes import ROOT

PARENT = """
import sys, django
django.setup()
from webapp.celery import app
app.loader.import_default_modules()  # what a worker's parent and beat import
import training.tasks, training.services, training.pipeline, training.fine_tune, training.admin, models.admin
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, sorted(m for m in sys.modules if "tensor" in m)
print("ok")
"""


def test_the_worker_parent_and_beat_never_import_tensorflow():
    out = subprocess.run(
        [sys.executable, "-c", PARENT], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
