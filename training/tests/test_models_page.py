from datetime import datetime, timedelta

import pytest

from digits.models import Sample
from models.registry import model_version_activate
from training.models import TrainingRun
from training.services import training_run_claim, training_run_progress


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.django_db
def test_the_models_page_shows_versions_lineage_progress_and_the_timeline(
    staff_client, active_version, register_version
):
    metrics = {
        "mnist_accuracy": 0.99,
        "heldout_accuracy": 0.9,
        "validation_accuracy": 0.9952,
        "temperature": 1.43,
        "mnist_ece": 0.0021,
        "gate": {"passed": True, "unjudged_focus_digits": [9]},
    }
    v2 = register_version(parent=active_version, metrics=metrics)
    v2.params = {"kind": "fine_tune", "method": "fine-tune: 12k MNIST rehearsal + drawings augmented"}
    v2.save(update_fields=["params"])
    model_version_activate(version=v2, by="training run 7", reason="Gate passed: ...")
    made_v2 = TrainingRun.objects.create(trigger="threshold", status="succeeded", epoch=3, epochs=3, result=v2)
    TrainingRun.objects.create(
        trigger=TrainingRun.Trigger.MANUAL, status="running", epoch=1, epochs=3, requested_by="ada.lovelace"
    )
    for n, (label, status) in enumerate([(7, "approved"), (9, "approved"), (1, "pending")]):
        drawing = {"image_sha256": str(n), "pixels": bytes(784), "label_source": "confirmed", "client_id": "c"}
        Sample.objects.create(**drawing, label=label, predicted=7, model_version=v2, status=status)
    html = staff_client.get("/models/").content.decode()
    assert "v2" in html and "0.9900" in html and "0.9000" in html and "0.9952" in html
    assert "fine-tune: 12k MNIST rehearsal + drawings augmented" in html and "1.43 / 0.0021" in html
    assert "No held-out 9s: not judged." in html
    assert "<td>0.9000</td>\n        <td>–</td>" in html  # no 7/9 confusion recorded: a dash, not a bare "/"
    assert f"<td>v1</td>\n        <td>{made_v2.pk}</td>" in html  # parent, then the run that made it
    assert '1/2\n          <span class="muted">(3 predicted)' in html  # v2 was right on one of two approved
    assert 'id="run-progress" max="3" value="1"' in html and "ada.lovelace" in html
    assert "v2 served, replacing v1" in html and "by training run 7" in html and "by test fixture" in html


@pytest.mark.django_db
def test_the_models_page_and_its_progress_json_are_for_staff_only(client, visitor):
    assert client.get("/models/").status_code == 302  # to the login
    assert client.get("/api/training/runs/latest").status_code == 401
    client.force_login(visitor)
    assert client.get("/api/training/runs/latest").status_code == 401


@pytest.mark.django_db
def test_the_progress_json_follows_the_run_in_flight(staff_client):
    TrainingRun.objects.create(trigger="schedule", status="succeeded", epoch=3, epochs=3)
    TrainingRun.objects.create(
        trigger="manual", status="running", epoch=2, epochs=4, history=[{"epoch": 1, "loss": 0.2, "accuracy": 0.9}]
    )
    run = staff_client.get("/api/training/runs/latest").json()
    assert (run["status"], run["epoch"], run["epochs"], run["progress"]) == ("running", 2, 4, 0.5)
    assert run["history"][0]["loss"] == 0.2


@pytest.mark.django_db
def test_the_claim_and_every_epoch_are_heartbeats_that_the_progress_json_and_the_page_show(staff_client):
    run = TrainingRun.objects.create(trigger="manual", epochs=2)
    assert training_run_claim(run_id=run.pk) and not training_run_claim(run_id=run.pk)  # claimed once
    run.refresh_from_db()
    claimed_at = run.heartbeat_at
    training_run_progress(run_id=run.pk, epoch=1, epochs=2, logs={"loss": 0.3, "accuracy": 0.9})
    run.refresh_from_db()

    assert run.status == "running" and run.heartbeat_at > claimed_at
    json = staff_client.get("/api/training/runs/latest").json()
    assert abs(datetime.fromisoformat(json["heartbeat_at"]) - run.heartbeat_at) < timedelta(milliseconds=1)
    page = staff_client.get("/models/").content.decode()
    assert f'<time id="run-heartbeat">{run.heartbeat_at:%Y-%m-%d %H:%M:%S}</time>' in page


@pytest.mark.django_db
def test_retrain_now_in_the_admin_queues_one_run_and_a_second_click_says_so(
    staff_client, django_capture_on_commit_callbacks
):
    url = "/admin/training/trainingrun/retrain/"
    with django_capture_on_commit_callbacks():
        response = staff_client.post(url, follow=True)
    assert "Retraining queued as run" in response.content.decode()
    run = TrainingRun.objects.get()
    assert (run.trigger, run.requested_by, run.status) == ("manual", "ada", "queued")
    response = staff_client.post(url, follow=True)
    assert "already in progress" in response.content.decode() and TrainingRun.objects.count() == 1
    assert "Retrain now" in staff_client.get("/admin/training/trainingrun/").content.decode()


@pytest.mark.django_db
def test_rolling_back_in_the_admin_asks_first_then_records_who_and_why(staff_client, active_version, register_version):
    v2 = register_version(parent=active_version)
    model_version_activate(version=v2, by="training run 1")
    url = "/admin/models/modelversion/"
    form = {"action": "activate", "_selected_action": [active_version.pk]}
    page = staff_client.post(url, form).content.decode()
    assert "Roll back to v1?" in page and "Served now: <strong>v2" in page
    v2.refresh_from_db()
    assert v2.status == "active"  # nothing changed yet

    staff_client.post(url, {**form, "confirm": "yes", "reason": "v2 misreads 4s"})
    active_version.refresh_from_db()
    v2.refresh_from_db()
    assert (active_version.status, v2.status) == ("active", "retired")
    activation = active_version.activations.latest("activated_at")
    assert (activation.by, activation.reason, activation.previous) == ("ada", "v2 misreads 4s", v2)
