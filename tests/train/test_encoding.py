import numpy as np
import pytest

from mimo.encoding import (
    COLOR_NAMES,
    GREEN,
    RED,
    colorize,
    encode_number,
    encode_sum,
    grey_input,
    one_hot,
    sum_labels,
    unit_range,
)


def test_one_hot_rows_have_a_single_one_at_the_value():
    encoded = one_hot([0, 3, 9], 10)
    assert encoded.shape == (3, 10)
    assert encoded.dtype == np.float32
    assert encoded.sum(axis=1).tolist() == [1, 1, 1]
    assert encoded.argmax(axis=1).tolist() == [0, 3, 9]


def test_one_hot_rejects_out_of_range_values():
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        one_hot([10], 10)
    with pytest.raises(ValueError):
        one_hot([-1], 10)


def test_number_seven_is_encoded_as_in_seed_b():
    assert encode_number([7])[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]


def test_sum_thirteen_is_one_hot_over_19_classes():
    encoded = encode_sum([5], [8])[0]
    assert encoded.shape == (19,)
    assert encoded.argmax() == 13 and encoded.sum() == 1


def test_sum_covers_the_whole_range():
    digits, numbers = np.meshgrid(np.arange(10), np.arange(10))
    sums = sum_labels(digits.ravel(), numbers.ravel())
    assert sums.min() == 0 and sums.max() == 18
    assert encode_sum(digits.ravel(), numbers.ravel()).shape == (100, 19)


def test_colorize_puts_the_digit_in_the_red_or_green_channel(mnist_small):
    digits = mnist_small.x_train[:2]
    rgb = colorize(digits, [0, 1])
    assert rgb.shape == (2, 28, 28, 3) and rgb.dtype == np.float32
    np.testing.assert_allclose(rgb[0, ..., 0], digits[0] / 255.0)
    assert rgb[0, ..., 1:].max() == 0
    np.testing.assert_allclose(rgb[1, ..., 1], digits[1] / 255.0)
    assert rgb[1, ..., [0, 2]].max() == 0


def test_color_labels_name_the_channel_the_digit_is_drawn_in():
    assert COLOR_NAMES == ("red", "green")
    assert (COLOR_NAMES[RED], COLOR_NAMES[GREEN]) == ("red", "green")
    rgb = colorize(np.full((2, 28, 28), 255, np.uint8), [RED, GREEN])
    assert rgb[0, ..., RED].min() == 1 and rgb[1, ..., GREEN].min() == 1


def test_grey_input_is_one_channel_in_the_unit_range_from_uint8_or_float(mnist_small):
    digits = mnist_small.x_train[:3]
    grey = grey_input(digits)
    assert grey.shape == (3, 28, 28, 1) and grey.dtype == np.float32
    np.testing.assert_array_equal(grey[..., 0], digits.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(grey_input(unit_range(digits)), grey)  # floats kept as they are
