import numpy as np

from mimo.encoding import encode_number, encode_sum
from mimo.models import (
    SmoothedSparseCrossentropy,
    build_color_model,
    build_sum_model,
    compile_model,
    load_model,
    transfer_weights,
)


def test_color_model_has_named_heads_with_the_right_shapes():
    model = build_color_model()
    assert model.input_shape == (None, 28, 28, 3)
    outputs = model(np.zeros((4, 28, 28, 3), np.float32), training=False)
    assert set(outputs) == {"digit", "color"}
    assert outputs["digit"].shape == (4, 10) and outputs["color"].shape == (4, 1)
    np.testing.assert_allclose(np.asarray(outputs["digit"]).sum(1), 1, rtol=1e-5)
    assert float(np.min(outputs["color"])) >= 0 and float(np.max(outputs["color"])) <= 1


def test_color_model_keeps_resnet_style_skip_connections():
    adds = [layer for layer in build_color_model().layers if type(layer).__name__ == "Add"]
    assert len(adds) >= 3


def test_sum_model_takes_image_and_number_and_returns_digit_and_sum():
    model = build_sum_model()
    outputs = model(
        {"image": np.zeros((3, 28, 28, 1), np.float32), "number": encode_number([0, 4, 9])},
        training=False,
    )
    assert set(outputs) == {"digit", "sum"}
    assert outputs["digit"].shape == (3, 10) and outputs["sum"].shape == (3, 19)
    np.testing.assert_allclose(np.asarray(outputs["sum"]).sum(1), 1, rtol=1e-5)


def test_sum_loss_trains_the_sum_head_and_reaches_the_image_features():
    import tensorflow as tf

    model = build_sum_model()
    sum_layer = model.get_layer("sum")
    image = tf.random.uniform((2, 28, 28, 1))
    number = tf.constant(encode_number([3, 5]))
    target = tf.constant(encode_sum([4, 6], [3, 5]))

    def gradients():
        with tf.GradientTape() as tape:
            tape.watch(image)
            out = model({"image": image, "number": number}, training=False)
            loss = tf.keras.losses.categorical_crossentropy(target, out["sum"])
        return tape.gradient(loss, [sum_layer.kernel, image])

    head_gradient, _ = gradients()  # the head starts from zero weights and learns from there
    assert float(tf.reduce_max(tf.abs(head_gradient))) > 0
    # once the head has weights, the sum loss flows back through it into the image features
    sum_layer.kernel.assign(tf.random.normal(sum_layer.kernel.shape))
    _, image_gradient = gradients()
    assert float(tf.reduce_max(tf.abs(image_gradient))) > 0


def test_models_survive_a_save_and_safe_mode_load_round_trip(tmp_path):
    inputs = {
        "color": np.random.default_rng(0).random((2, 28, 28, 3), dtype=np.float32),
        "sum": {
            "image": np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32),
            "number": encode_number([2, 7]),
        },
    }
    for name, model in (("color", build_color_model()), ("sum", build_sum_model())):
        # compiled as training compiles them: EMA optimiser, smoothed digit loss
        compile_model(model, 1e-3, ema_momentum=0.99, digit_label_smoothing=0.1)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        reloaded = load_model(path)
        before, after = model(inputs[name], training=False), reloaded(inputs[name], training=False)
        for head in before:
            np.testing.assert_allclose(np.asarray(before[head]), np.asarray(after[head]), atol=1e-6)


def test_smoothed_sparse_loss_matches_keras_one_hot_label_smoothing():
    import keras

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10), 16).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    for smoothing in (0.0, 0.1):
        ours = SmoothedSparseCrossentropy(smoothing)(labels, probs)
        reference = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)(
            keras.ops.one_hot(labels, 10), probs
        )
        np.testing.assert_allclose(float(ours), float(reference), rtol=1e-5)


def test_the_optimiser_keeps_a_weight_average_only_when_asked():
    with_ema = compile_model(build_color_model(), 1e-3, ema_momentum=0.99)
    assert with_ema.optimizer.use_ema and with_ema.optimizer.ema_momentum == 0.99
    assert not compile_model(build_color_model(), 1e-3).optimizer.use_ema


def test_a_sum_model_started_from_the_colour_run_reads_grey_digits_before_any_training(
    shipped_registry, mnist_small
):
    colour = load_model(shipped_registry.active_run("color").model_path)
    model = build_sum_model()
    copied = transfer_weights(colour, model)
    # The trunk (the stem's RGB kernel summed into a grey one) and the digit head; not the sum head.
    assert {"stem_conv", "block1_a_conv", "block3_b_bn", "features", "digit"} <= set(copied)
    assert "sum" not in copied
    np.testing.assert_allclose(
        model.get_layer("stem_conv").get_weights()[0],
        colour.get_layer("stem_conv").get_weights()[0].sum(axis=2, keepdims=True),
    )
    grey = mnist_small.x_test[:300, ..., None].astype(np.float32) / 255
    outputs = model({"image": grey, "number": encode_number([0] * 300)}, training=False)
    read = np.asarray(outputs["digit"]).argmax(1) == mnist_small.y_test[:300]
    assert read.mean() > 0.9  # a grey digit reads like white ink, one of the colour model's
    # The other way, and a model of the same kind, every layer is taken.
    back = build_color_model()
    assert "stem_conv" in transfer_weights(model, back)
    same = build_sum_model()
    assert set(transfer_weights(model, same)) == {
        layer.name for layer in model.layers if layer.weights
    }
