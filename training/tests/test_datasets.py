import numpy as np
import pytest

from training.datasets import TEST_COUNTS, TRAIN_COUNTS, Mnist, MnistError, load_mnist, verify


def test_mnist_loads_with_the_known_per_class_counts(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28)
    assert tuple(np.bincount(mnist.y_train)) == TRAIN_COUNTS
    assert tuple(np.bincount(mnist.y_test)) == TEST_COUNTS


def test_it_refuses_a_truncated_set(mnist):
    short = Mnist(mnist.x_train[:-1], mnist.y_train[:-1], mnist.x_test, mnist.y_test)
    with pytest.raises(MnistError, match="expected"):
        verify(short)


def test_it_refuses_wrong_labels(mnist):
    y = mnist.y_test.copy()
    y[0] = (y[0] + 1) % 10
    with pytest.raises(MnistError, match="per-class counts"):
        verify(Mnist(mnist.x_train, mnist.y_train, mnist.x_test, y))


def test_a_missing_file_says_how_to_fix_it(tmp_path):
    with pytest.raises(MnistError, match="prepare_mnist"):
        load_mnist(source=str(tmp_path / "nowhere.npz"))


def test_a_corrupt_cache_is_refused(tmp_path):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(MnistError, match="Cannot read"):
        load_mnist(cache=bad)


def test_a_keras_format_npz_is_accepted(mnist, tmp_path):
    path = tmp_path / "keras_mnist.npz"
    np.savez(path, x_train=mnist.x_train, y_train=mnist.y_train, x_test=mnist.x_test, y_test=mnist.y_test)
    data = load_mnist(source=str(path))
    assert np.array_equal(data.y_test, mnist.y_test)
