# The real-process fixtures of the retraining tests: a worker, shared
# artifact storage, the served tiny CNN, collected drawings.
from training.tests.conftest import make_drawings, served_version, shared_storage, worker, worker_folder  # noqa: F401
