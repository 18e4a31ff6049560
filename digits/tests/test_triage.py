"""Triage in this process (the worker's code, without the broker): the bound,
the setting that turns auto-approval off, the contributor page and the
admin's quarantine."""

import numpy as np
import pytest
from django.urls import reverse

from digits.models import Contributor, Sample, SampleReview
from digits.selectors import trainable_samples
from digits.services import contributors_trust_refresh, sample_create
from digits.triage import triage_batch
from digits.triage_policy import DecidedSignals, clopper_pearson_upper, triage_policy_choose

from .conftest import png_bytes, recounted, tallies


def test_the_clopper_pearson_bound_matches_known_values():
    # 0 of 598 is the fewest that bounds the error at 0.5%; 1 of 100: 4.66%.
    assert clopper_pearson_upper(errors=0, n=598) <= 0.005 < clopper_pearson_upper(errors=0, n=597)
    assert clopper_pearson_upper(errors=1, n=100) == pytest.approx(0.0466, abs=2e-4)
    assert clopper_pearson_upper(errors=5, n=1000) == pytest.approx(0.01048, abs=2e-4)
    assert clopper_pearson_upper(errors=0, n=0) == 1.0


def test_the_threshold_is_the_lowest_that_keeps_the_bound():
    right = [DecidedSignals(0.999, 0, 0.0, False)] * 700
    wrong_but_unsure = [DecidedSignals(0.6, 0, 0.0, True)] * 30
    policy = triage_policy_choose(right + wrong_but_unsure, target=0.005)
    assert policy.threshold == 0.7 and policy.errors == 0 and policy.n == 700
    too_few = triage_policy_choose(right[:500], target=0.005)
    assert too_few.threshold is None and too_few.bound > 0.005


@pytest.fixture
def decided_and_trusted(active_version, mnist, reviewer):
    """70 drawings people decided (all right, the model sure of them: a bound of
    5% allows a threshold) and a contributor trusted by 20 approvals."""
    from digits.services import sample_approve

    for i in range(70):
        sample = sample_create(
            image=png_bytes(mnist.x_test[2000 + i]), label=int(mnist.y_test[2000 + i]), label_source="prompted",
            client_id=f"early-{i % 7}",
        )  # fmt: skip
        Sample.objects.filter(id=sample.id).update(
            triage=Sample.Triage.NEEDS_PERSON, label_quality=0.999, support=0, trust_at_triage=0.1
        )
        sample_approve(sample=sample, reviewer=reviewer)
    Sample.objects.filter(client_id="early-0").update(client_id="trusted")
    contributors_trust_refresh(client_ids=["trusted"])
    assert Contributor.objects.get(client_id="trusted").trust >= 0.3


def _store_sure_ones(mnist, count=20, client_id="trusted"):
    ids = []
    for i in range(count):
        image, label = mnist.x_test[3000 + i], int(mnist.y_test[3000 + i])
        ids.append(sample_create(image=png_bytes(image), label=label, label_source="prompted", client_id=client_id).id)
    return ids


@pytest.mark.parametrize("on", [True, False])
def test_one_setting_turns_auto_approval_off(decided_and_trusted, mnist, settings, on):
    settings.TRIAGE_MAX_ERROR_BOUND, settings.TRIAGE_AUDIT_SHARE, settings.TRIAGE_AUTO_APPROVE = 0.05, 0.0, on
    ids = _store_sure_ones(mnist)
    assert triage_batch() == len(ids)
    samples = Sample.objects.filter(id__in=ids)
    auto = samples.filter(triage=Sample.Triage.AUTO_APPROVED, status=Sample.Status.APPROVED).count()
    if on:
        assert auto >= 10
    else:
        assert auto == 0
        assert "auto-approval is off" in samples.filter(triage=Sample.Triage.NEEDS_PERSON).first().triage_reason


def test_an_audit_share_goes_to_people(decided_and_trusted, mnist, settings):
    settings.TRIAGE_MAX_ERROR_BOUND, settings.TRIAGE_AUDIT_SHARE = 0.05, 1.0
    ids = _store_sure_ones(mnist)
    triage_batch()
    audited = Sample.objects.filter(id__in=ids, audit=True, triage=Sample.Triage.NEEDS_PERSON)
    assert audited.count() >= 10 and not Sample.objects.filter(id__in=ids, status=Sample.Status.APPROVED).exists()
    assert audited.first().triage_reason.startswith("audit (would be auto-approved")


def test_quarantining_a_contributor_holds_their_drawings_out_of_training(
    decided_and_trusted, mnist, settings, client, reviewer
):
    settings.TRIAGE_MAX_ERROR_BOUND, settings.TRIAGE_AUDIT_SHARE, settings.TRAIN_INCLUDE_PENDING = 0.05, 0.0, True
    ids = _store_sure_ones(mnist)
    triage_batch()
    auto = set(Sample.objects.filter(id__in=ids, triage=Sample.Triage.AUTO_APPROVED).values_list("id", flat=True))
    assert auto and set(ids) & set(trainable_samples().values_list("id", flat=True)) == set(ids)
    assert tallies() == recounted()  # the auto-approvals moved the counts
    client.force_login(reviewer)
    contributor = Contributor.objects.get(client_id="trusted")
    changelist = reverse("admin:digits_contributor_changelist")
    response = client.post(changelist, {"action": "quarantine", "_selected_action": [contributor.id]}, follow=True)
    assert "Quarantined 1 contributor(s)" in response.content.decode()

    contributor.refresh_from_db()
    assert contributor.quarantined and contributor.quarantined_by == reviewer
    held = Sample.objects.filter(id__in=ids)
    assert set(held.values_list("status", "triage").distinct()) == {(Sample.Status.PENDING, Sample.Triage.QUARANTINED)}
    assert not set(ids) & set(trainable_samples().values_list("id", flat=True))
    took_back = SampleReview.objects.filter(action=SampleReview.Action.QUARANTINE, sample_id__in=auto)
    assert took_back.count() == len(auto) and {r.reviewer for r in took_back} == {reviewer}
    assert tallies() == recounted()
    # What people approved of theirs before stays: a person vouched for it.
    assert (
        Sample.objects.filter(client_id="trusted", status=Sample.Status.APPROVED, triage="needs_person").count() == 10
    )

    # A later drawing of theirs is quarantined by the triage.
    later = sample_create(
        image=png_bytes(mnist.x_test[3100]), label=int(mnist.y_test[3100]), label_source="prompted", client_id="trusted"
    )
    triage_batch()
    later.refresh_from_db()
    assert later.triage == Sample.Triage.QUARANTINED and later.triage_reason.startswith("contributor quarantined")


def test_the_contributor_page_shows_trust_agreement_and_drawings(decided_and_trusted, client, reviewer):
    client.force_login(reviewer)
    response = client.get(reverse("review:contributor", args=["trusted"]))
    html = response.content.decode()
    assert response.status_code == 200
    trust = Contributor.objects.get(client_id="trusted").trust
    assert f"Trust <strong>{trust:.2f}</strong>" in html
    assert "Agreement: <strong>" in html and "10 approved" in html
    ids = Sample.objects.filter(client_id="trusted").values_list("id", flat=True)
    assert all(f'data-sample-id="{i}"' in html for i in ids)
    assert client.get(reverse("review:contributor", args=["nobody"])).status_code == 404


def test_the_review_queue_shows_why_a_drawing_waits(decided_and_trusted, mnist, client, reviewer, settings):
    settings.TRIAGE_AUTO_APPROVE = False
    (sample_id,) = _store_sure_ones(mnist, count=1, client_id="someone")
    triage_batch()
    client.force_login(reviewer)
    page = client.get("/api/review/queue", {"limit": 20}).json()
    shown = {s["id"]: s for s in page["samples"]}
    assert shown[sample_id]["triage"] == "needs_person"
    assert shown[sample_id]["triage_reason"].startswith("auto-approval is off")
    assert np.isclose(Sample.objects.get(id=sample_id).trust_at_triage, 0.1)


def test_web_processes_never_import_cleanlab():
    import os
    import subprocess
    import sys

    code = (
        "import django, sys; django.setup(); import webapp.urls, webapp.wsgi, digits.admin, digits.review.views;"
        "print('cleanlab' in sys.modules, 'digits.triage' in sys.modules)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    out = run.stdout.split()
    assert out == ["False", "False"]


def test_an_auto_approval_is_undone_from_the_admin(decided_and_trusted, mnist, settings, client, reviewer):
    settings.TRIAGE_MAX_ERROR_BOUND, settings.TRIAGE_AUDIT_SHARE = 0.05, 0.0
    ids = _store_sure_ones(mnist)
    triage_batch()
    auto = list(Sample.objects.filter(id__in=ids, triage=Sample.Triage.AUTO_APPROVED))
    assert auto
    client.force_login(reviewer)
    changelist = reverse("admin:digits_sample_changelist")
    data = {"action": "undo_auto_approval", "_selected_action": [s.id for s in auto], "label": ""}
    response = client.post(changelist, data, follow=True)
    assert f"Back to people: {len(auto)} auto-approved" in response.content.decode()
    back = Sample.objects.filter(id__in=[s.id for s in auto])
    assert set(back.values_list("status", "triage").distinct()) == {(Sample.Status.PENDING, "needs_person")}
    assert back.first().triage_reason.startswith("auto-approval undone by rita")
    undo = SampleReview.objects.filter(sample__in=back, action=SampleReview.Action.UNDO, reviewer=reviewer)
    assert undo.count() == len(auto)
    assert tallies() == recounted()
