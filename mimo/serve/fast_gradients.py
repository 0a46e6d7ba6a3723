"""A copy of a Keras model whose input gradients are cheap to compute on a CPU.

mimo.serve.explain differentiates the models with respect to their inputs many times per
drawing. TensorFlow's CPU kernel for a convolution's input gradient (Conv2DBackpropInput) is
much slower than its forward convolution on these shapes, so the copy's stride-1 convolutions
compute that gradient as a forward convolution with the kernel flipped and transposed: the same
numbers, faster.
"""

from __future__ import annotations

import functools


def with_fast_input_gradients(model):
    """A copy of the model, with its weights, whose stride-1 convolutions give their input's
    gradient as a forward convolution of the output's gradient with the kernel flipped and
    transposed: the same numbers, but TensorFlow's CPU kernel for a convolution's input
    gradient (Conv2DBackpropInput) is much slower than its forward convolution on these
    shapes, and the input gradient is most of integrated gradients' work. The copy gives no
    gradient for its weights: it is only differentiated with respect to its inputs."""
    import keras

    copy = keras.models.clone_model(model, clone_function=_fast_gradient_layer)
    copy.set_weights(model.get_weights())
    return copy


def _fast_gradient_layer(layer):
    """A fresh layer like `layer` (clone_model's default), the fast-gradient convolution where
    its flipped-kernel gradient is exact: stride 1, no dilation or groups, channels last, and
    "same" padding of an odd kernel (or a 1x1 kernel)."""
    import keras

    config = layer.get_config()
    if type(layer) is keras.layers.Conv2D and _flippable(config):
        return _fast_gradient_conv().from_config(config)
    return layer.__class__.from_config(config)


def _flippable(config: dict) -> bool:
    kernel = tuple(config["kernel_size"])
    return (
        tuple(config["strides"]) == (1, 1)
        and tuple(config["dilation_rate"]) == (1, 1)
        and config["groups"] == 1
        and config["data_format"] == "channels_last"
        and all(side % 2 == 1 for side in kernel)
        and (config["padding"] == "same" or kernel == (1, 1))
    )


@functools.cache
def _fast_gradient_conv():
    """The Conv2D subclass of with_fast_input_gradients (made once, on first use, so that
    importing this module does not import TensorFlow)."""
    import keras
    import tensorflow as tf

    @tf.custom_gradient
    def convolve(inputs, kernel):
        def gradient(upstream):
            flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
            return tf.nn.conv2d(upstream, flipped, 1, "SAME"), None

        return tf.nn.conv2d(inputs, kernel, 1, "SAME"), gradient

    class FastInputGradientConv2D(keras.layers.Conv2D):
        def convolution_op(self, inputs, kernel):
            return convolve(inputs, tf.convert_to_tensor(kernel))

    return FastInputGradientConv2D
