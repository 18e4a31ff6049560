"""A drawing's history: a new version, and its parent, read the held-out and
recent drawings once; the stored readings feed the scoreboard."""

import numpy as np
import pytest

from digits.models import SampleReading
from digits.selectors import sample_histories_get, samples_right_for_one_version_only, version_scoreboard_get
from digits.services import sample_readings_store
from models.serving import load_version
from training.readings import version_readings_compute
from training.selectors import is_held_out

pytestmark = pytest.mark.django_db


def test_a_new_version_and_its_parent_read_the_drawings_once(active_version, register_version, make_drawings, mnist):
    drawings = make_drawings(mnist.x_test[:40], mnist.y_test[:40])
    child = register_version(parent=active_version)

    assert version_readings_compute(version_id=child.pk) == 80  # 40 by the new version, 40 by its parent
    assert version_readings_compute(version_id=child.pk) == 0  # a retried task changes nothing
    predictor = load_version(child).predictor
    expected = predictor.predict_batch(mnist.x_test[:40]).argmax(axis=1)
    readings = {r.sample_id: r for r in SampleReading.objects.filter(version=child)}
    assert [readings[d.id].predicted for d in drawings] == expected.tolist()
    assert all(readings[d.id].held_out == is_held_out(d.image_sha256) for d in drawings)

    history = sample_histories_get(sample_ids=[drawings[0].id])[drawings[0].id]
    assert [r.version for r in history] == [active_version.version, child.version]


def test_the_scoreboard_and_the_comparison_count_approved_held_out_drawings(
    active_version, register_version, make_drawings, mnist
):
    drawings = [d for d in make_drawings(mnist.x_test[:200], mnist.y_test[:200]) if is_held_out(d.image_sha256)][:6]
    labels = [d.label for d in drawings]
    ids = [d.id for d in drawings]
    other = register_version(parent=active_version)
    right = np.eye(10)[labels]
    wrong = np.eye(10)[[(label + 1) % 10 for label in labels]]
    # The active version reads all six right; the other only the first two.
    sample_readings_store(version=active_version, sample_ids=ids, probabilities=right, held_out=set(ids))
    sample_readings_store(
        version=other, sample_ids=ids, probabilities=np.vstack([right[:2], wrong[2:]]), held_out=set(ids)
    )
    board = version_scoreboard_get(version_ids=[active_version.pk, other.pk])
    assert sum(t for _, t in board[active_version.pk]) == 6 == sum(r for r, _ in board[active_version.pk])
    assert sum(r for r, _ in board[other.pk]) == 2
    assert board[other.pk][labels[0]][1] >= 1
    only = samples_right_for_one_version_only(right_id=active_version.pk, wrong_id=other.pk)
    assert sorted(s.id for s in only) == sorted(ids[2:])
    assert samples_right_for_one_version_only(right_id=other.pk, wrong_id=active_version.pk) == []


def test_the_command_reads_the_drawings_with_versions_registered_before(active_version, make_drawings, mnist):
    from io import StringIO

    from django.core.management import call_command

    make_drawings(mnist.x_test[:10], mnist.y_test[:10])
    out = StringIO()
    call_command("readings_compute", stdout=out)
    assert out.getvalue() == f"{active_version}: 10 new readings\n"
    assert SampleReading.objects.filter(version=active_version).count() == 10
