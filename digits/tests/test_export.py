import io

import numpy as np
from django.core.management import call_command
from django.urls import reverse

from digits.export import samples_export_npz
from digits.models import Sample


def test_the_export_holds_approved_samples_only(make_sample, tmp_path, settings):
    settings.TRAIN_INCLUDE_PENDING = True  # training may take pending ones; the export never does
    first = make_sample(label=3, status=Sample.Status.APPROVED)
    second = make_sample(label=8, status=Sample.Status.APPROVED)
    make_sample(label=5)
    make_sample(label=1, status=Sample.Status.REJECTED)

    count = samples_export_npz(target=tmp_path / "out.npz")

    data = np.load(tmp_path / "out.npz")
    assert count == 2
    assert data["x"].shape == (2, 28, 28) and data["x"].dtype == np.uint8
    assert data["y"].dtype == np.uint8 and data["y"].tolist() == [3, 8]
    assert data["ids"].tolist() == [first.id, second.id]
    assert np.array_equal(data["x"][0], first.array) and np.array_equal(data["x"][1], second.array)


def test_the_command_writes_the_file_at_the_path_given(make_sample, tmp_path):
    make_sample(label=6, status=Sample.Status.APPROVED)
    out = io.StringIO()

    call_command("export_samples", str(tmp_path / "samples"), stdout=out)

    assert "Exported 1 approved samples" in out.getvalue()
    assert np.load(tmp_path / "samples", allow_pickle=False)["y"].tolist() == [6]  # no ".npz" appended


def test_an_empty_export_is_a_valid_file(db, tmp_path):
    call_command("export_samples", str(tmp_path / "empty.npz"), stdout=io.StringIO())

    data = np.load(tmp_path / "empty.npz")
    assert data["x"].shape == (0, 28, 28) and data["y"].shape == (0,)


def test_the_admin_action_downloads_the_approved_among_the_selected(client, reviewer, make_sample):
    chosen = make_sample(label=2, status=Sample.Status.APPROVED)
    pending = make_sample(label=4)
    make_sample(label=9, status=Sample.Status.APPROVED)  # approved, but not selected
    client.force_login(reviewer)

    response = client.post(
        reverse("admin:digits_sample_changelist"),
        {"action": "export_npz", "_selected_action": [chosen.id, pending.id], "label": ""},
    )

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="digitlab-samples-')
    data = np.load(io.BytesIO(response.content))
    assert data["y"].tolist() == [2] and data["ids"].tolist() == [chosen.id]
