"""Training data that does not grow with the collection: the arrays stream
from the table, and a run picks a capped, weighted set of drawings."""

from datetime import timedelta

import numpy as np
from django.utils import timezone

from digits.models import Sample
from digits.selectors import approved_samples, samples_arrays
from training.selectors import is_held_out, training_drawings_pick


def images(count: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((count, 28, 28), np.uint8)
    for i in range(count):
        x[i, (start + i) % 28, :] = 255  # a bar that says which image it is
        x[i, :, (start + i * 7) % 28] = 100
    return x, (np.arange(start, start + count) % 10).astype(np.uint8)


def test_streamed_arrays_match_the_rows_in_memory_and_in_a_memory_mapped_folder(make_drawings, tmp_path):
    x, y = images(57)
    made = make_drawings(x, y)
    make_drawings(*images(5, start=100), status=Sample.Status.REJECTED)

    in_memory = samples_arrays(approved_samples(), chunk_size=4)
    mapped = samples_arrays(approved_samples(), folder=tmp_path / "arrays", chunk_size=2)

    assert in_memory.ids.tolist() == [s.id for s in made]
    assert np.array_equal(in_memory.x, x) and np.array_equal(in_memory.y, y)
    order = np.argsort(mapped.ids)
    assert isinstance(mapped.x, np.memmap)
    assert np.array_equal(mapped.x[order], x) and np.array_equal(mapped.y[order], y)
    reloaded = np.load(tmp_path / "arrays" / "x.npy", mmap_mode="r")
    assert reloaded.shape == (57, 28, 28) and np.array_equal(np.load(tmp_path / "arrays" / "ids.npy"), mapped.ids)


def test_a_run_picks_at_most_the_cap_favouring_new_then_misread_drawings(make_drawings):
    old = make_drawings(*images(300))
    misread = old[:60]
    for s in misread:  # the served model read another digit
        Sample.objects.filter(id=s.id).update(predicted=(s.label + 1) % 10)
    since = timezone.now()
    new = make_drawings(*images(100, start=300))
    Sample.objects.filter(id__in=[s.id for s in new]).update(reviewed_at=since + timedelta(seconds=1))

    pick = training_drawings_pick(since=since, cap=80, heldout_cap=30)

    new_ids = {s.id for s in new}
    misread_ids = {s.id for s in misread}
    train = set(pick.train_ids)
    assert len(pick.train_ids) == len(train) == 80
    assert pick.new == 40 and len(train & new_ids) >= 40
    assert len(train & misread_ids) >= 20
    sha = dict(Sample.objects.values_list("id", "image_sha256"))
    assert not any(is_held_out(sha[i]) for i in train)
    assert len(pick.heldout_ids) == 30 and all(is_held_out(sha[i]) for i in pick.heldout_ids)
    assert pick.available == 400


def test_with_nothing_new_the_pick_says_so(make_drawings):
    make_drawings(*images(20))

    pick = training_drawings_pick(since=timezone.now(), cap=10, heldout_cap=5)

    assert pick.new == 0 and len(pick.train_ids) <= 10
    assert samples_arrays(Sample.objects.filter(id__in=[])).x.shape == (0, 28, 28)
