"""Training digits drawn on the canvas and read back as the app reads them."""

import numpy as np

from mimo.serve.preprocess import stroke_width
from mimo.train import canvas_renders

N = 60


def test_each_digit_is_drawn_again_as_the_models_see_a_canvas(mnist_small):
    images, labels = mnist_small.x_train[:N], mnist_small.y_train[:N]
    drawn, drawn_labels = canvas_renders.render(images, labels, seed=0)
    assert drawn.dtype == np.uint8 and drawn.shape[1:] == (28, 28)
    assert len(drawn) == N  # none refused here (a refused drawing is left out, with its label)
    assert np.array_equal(drawn_labels, labels)
    assert not any(np.array_equal(d, i) for d, i in zip(drawn, images, strict=True))
    # Framed like MNIST: the digit's mass sits near the centre of the 28x28 picture.
    rows, cols = np.mgrid[:28, :28]
    mass = drawn.astype(float).sum(axis=(1, 2))
    centre_y = (drawn * rows).sum(axis=(1, 2)) / mass
    centre_x = (drawn * cols).sum(axis=(1, 2)) / mass
    assert np.abs(centre_y - 13.5).max() < 2.5 and np.abs(centre_x - 13.5).max() < 2.5


def test_canvas_brushes_draw_bolder_strokes_than_mnist(mnist_small):
    images, labels = mnist_small.x_train[:N], mnist_small.y_train[:N]
    drawn, _ = canvas_renders.render(images, labels, seed=0)
    widths = [stroke_width(d > 127) for d in drawn]
    mnist_widths = [stroke_width(i > 127) for i in images]
    assert np.median(widths) > 1.2 * np.median(mnist_widths)


def test_the_same_seed_draws_the_same_pictures(mnist_small):
    images, labels = mnist_small.x_train[:10], mnist_small.y_train[:10]
    first, _ = canvas_renders.render(images, labels, seed=3)
    again, _ = canvas_renders.render(images, labels, seed=3)
    other, _ = canvas_renders.render(images, labels, seed=4)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
