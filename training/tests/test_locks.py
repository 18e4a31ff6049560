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


@pytest.mark.django_db(transaction=True)
def test_a_claimed_run_that_raises_fails_with_its_traceback_and_is_not_claimed_twice():
    from training.models import TrainingRun
    from training.services import baseline_run_execute

    run = TrainingRun.objects.create(
        kind=TrainingRun.Kind.BASELINE,
        trigger=TrainingRun.Trigger.STARTUP,
        requested_by="test",
        epochs=1,
        params={"no_such_setting": 1},  # TrainConfig refuses it: a real error inside the claimed block
    )
    done = baseline_run_execute(run_id=run.pk)
    assert done.status == TrainingRun.Status.FAILED
    assert "Traceback" in done.error and "no_such_setting" in done.error
    assert baseline_run_execute(run_id=run.pk) is None  # a second delivery finds it claimed
    with single_flight() as held:
        assert held  # the lock went with the failure
