import numpy as np

from training.fine_tune import FineTuneConfig, build_training_set
from training.selectors import is_held_out


def test_the_held_out_share_is_fixed_by_the_id_alone():
    ids = range(1, 5001)
    held = [i for i in ids if is_held_out(i, 0.2)]
    assert 900 < len(held) < 1100
    assert held == [i for i in ids if is_held_out(i, 0.2)]  # the same every time
    assert not any(is_held_out(i, 0.0) for i in ids)
    # A larger share keeps every drawing that a smaller one held out.
    assert set(held) <= {i for i in ids if is_held_out(i, 0.3)}


def test_rehearsal_drawings_and_focus_digits_are_mixed_as_configured(mnist):
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
    assert len(data.x) == len(data.y) == summary["training_images"]
