import numpy as np
import pytest

from models.model_input import model_input


def test_it_scales_every_pixel_value_to_value_over_255_in_float32():
    pixels = np.arange(784, dtype=np.int64).reshape(28, 28) % 256
    x = model_input(pixels.astype(np.uint8))
    assert x.shape == (1, 28, 28, 1) and x.dtype == np.float32
    assert np.array_equal(x[0, ..., 0], pixels.astype(np.float32) / np.float32(255))
    assert x.min() == 0.0 and x.max() == 1.0


def test_a_batch_keeps_its_order_with_or_without_a_channel_axis():
    batch = np.stack([np.full((28, 28), v, np.uint8) for v in (0, 51, 255)])
    for pixels in (batch, batch[..., None]):
        x = model_input(pixels)
        assert x.shape == (3, 28, 28, 1)
        assert np.allclose(x[:, 0, 0, 0], [0.0, 0.2, 1.0])


@pytest.mark.parametrize(
    "pixels",
    [np.zeros((28, 28), np.float32), np.zeros((28, 27), np.uint8), np.zeros((2, 2, 28, 28), np.uint8)],
    ids=["floats", "not 28x28", "too many axes"],
)
def test_it_refuses_what_is_not_28x28_uint8(pixels):
    with pytest.raises((TypeError, ValueError)):
        model_input(pixels)
