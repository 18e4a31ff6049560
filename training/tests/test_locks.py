import subprocess
import sys
import time

import pytest

from training.locks import single_flight

from .processes import ROOT, process_env

HOLD = (
    "import django; django.setup(); from training.locks import single_flight\n"
    "with single_flight() as held:\n    print(held, flush=True)\n    import time; time.sleep(60)\n"
)


@pytest.mark.django_db(transaction=True)
def test_the_lock_is_exclusive_across_processes_and_dies_with_its_holder(tmp_path):
    env = process_env(tmp_path, DJANGO_SETTINGS_MODULE="webapp.settings")
    holder = subprocess.Popen([sys.executable, "-c", HOLD], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        with single_flight() as held:
            assert not held
        holder.kill()  # SIGKILL: no chance to release it
        holder.wait()
        deadline = time.monotonic() + 10
        while True:
            with single_flight() as held:
                if held:
                    break
            assert time.monotonic() < deadline, "the lock outlived its holder"
            time.sleep(0.1)
    finally:
        holder.kill()
        holder.wait()
