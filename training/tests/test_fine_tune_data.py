import hashlib

import numpy as np
import pytest

from training.datasets import validation_split
from training.fine_tune import FineTuneConfig, build_training_set
from training.selectors import is_held_out


def test_the_held_out_share_is_fixed_by_the_drawing_alone():
    drawings = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(5000)]
    held = [d for d in drawings if is_held_out(d, 0.2)]
    assert 900 < len(held) < 1100
    assert held == [d for d in drawings if is_held_out(d, 0.2)]  # the same every time
    assert not any(is_held_out(d, 0.0) for d in drawings)
    # A larger share keeps every drawing that a smaller one held out.
    assert set(held) <= {d for d in drawings if is_held_out(d, 0.3)}


@pytest.mark.django_db
def test_the_held_out_split_does_not_depend_on_what_was_stored_before(make_drawings, mnist):
    """The same drawings split the same way whatever ids the database hands
    out (tests before this one, other instances)."""
    from digits.models import Sample
    from training.selectors import fine_tune_drawings_get

    images, labels = mnist.x_test[:200], mnist.y_test[:200]

    def heldout_contents() -> set[bytes]:
        return {x.tobytes() for x in fine_tune_drawings_get().heldout.x}

    make_drawings(images[100:], labels[100:])  # others, stored first
    make_drawings(images[:100], labels[:100])
    first = heldout_contents()
    Sample.objects.all().delete()
    make_drawings(images[:100], labels[:100])  # now with other ids, stored first
    make_drawings(images[100:], labels[100:])
    assert heldout_contents() == first
    assert 20 <= len(first) <= 60  # about 20% of 200


def test_the_validation_split_is_seeded_and_disjoint_from_training(mnist):
    a, b = validation_split(mnist), validation_split(mnist)
    assert len(a.y_validation) == 5000 and len(a.y_train) == 55000
    assert np.array_equal(a.x_validation, b.x_validation)
    val = {x.tobytes() for x in a.x_validation[:500]}
    assert not val & {x.tobytes() for x in a.x_train}
    assert not np.array_equal(validation_split(mnist, seed=1).y_validation, a.y_validation)


def test_rehearsal_and_drawings_are_mixed_as_configured_and_only_drawings_are_marked(mnist):
    drawings_x = mnist.x_test[:100]
    drawings_y = mnist.y_test[:100]
    config = FineTuneConfig(rehearsal=1000, collected_share=0.3, focus_oversample=2, focus_digits=[7, 9])
    data = build_training_set(
        mnist_x=mnist.x_train, mnist_y=mnist.y_train, drawings_x=drawings_x, drawings_y=drawings_y, config=config
    )
    summary = data.summary
    assert sum(summary["mnist_per_digit"]) == 1000
    assert summary["collected_per_digit"] == np.bincount(drawings_y, minlength=10).tolist()
    assert summary["collected_repeat"] == 5  # 500 drawings shown >= 0.3 of (1000 + 500)
    focus_share = np.isin(data.y, [7, 9]).mean()
    assert focus_share > 0.3  # about 20% without oversampling
    assert len(data.x) == len(data.y) == len(data.is_drawing) == summary["training_images"]
    focus = np.isin(drawings_y, [7, 9]).sum()
    assert data.is_drawing.sum() == 5 * (100 + focus)
    assert not data.is_drawing[: len(data.y) - data.is_drawing.sum()].any()


def _with_test_digits_as_drawings(mnist, config: FineTuneConfig, count: int):
    """A fine-tuning set whose "drawings" are the first ``count`` MNIST test digits."""
    return build_training_set(
        mnist_x=mnist.x_train,
        mnist_y=mnist.y_train,
        drawings_x=mnist.x_test[:count],
        drawings_y=mnist.y_test[:count],
        config=config,
    )


def test_the_same_fine_tune_ends_on_the_same_weights_whenever_the_parent_was_loaded(mnist, tiny_model_path):
    """Each load gives the dropout layer another seed (Python's random state
    moves on); the fine-tune's own seed decides, not the load."""
    import random

    import keras

    from training.fine_tune import fine_tune

    config = FineTuneConfig(epochs=1, rehearsal=300, collected_share=0.2)
    data = _with_test_digits_as_drawings(mnist, config, 30)
    weights, saved = [], random.getstate()
    try:
        for state in (1, 2):
            random.seed(state)  # what the process happened to draw before loading
            parent = keras.models.load_model(tiny_model_path, compile=False)
            weights.append([w.numpy() for w in fine_tune(parent, data, config).weights])
    finally:
        random.setstate(saved)
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)
