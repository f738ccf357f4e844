"""Fast: TensorFlow 2. tf.GradientTape gives the gradients, and the whole training loop is one
tf.function compiled by XLA (jit_compile=True): a tf.while_loop, so Python runs once per call.

TensorFlow traces and XLA compiles once per shape, dtype and length bucket (the losses buffer
is rounded up to a power of two); the step count and the learning rate are tensors, so changing
them reuses the program.
"""
import functools

import numpy as np

from implementations.contract import Result, check, start

CONFIG = None  # the warm-up cell: N, D_in, H, D_out = 64, 1000, 100, 10; lr 1e-6; 500 steps
TAGS = ("fast", "tensorflow", "whole_loop")


def train(x, y, cfg):
    shapes = check(x, y, cfg)
    import tensorflow as tf

    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    if cfg.steps == 0:
        return Result(losses=np.zeros(0), init=init, params=p, grads=None)

    bucket = np.zeros(1 << (int(cfg.steps) - 1).bit_length(), dtype=cfg.dtype)
    out = compiled()(tf.constant(x, dtype=cfg.dtype), tf.constant(y, dtype=cfg.dtype), tf.constant(p["w1"]),
                     tf.constant(p["w2"]), tf.constant(cfg.lr, dtype=cfg.dtype), tf.constant(int(cfg.steps)), bucket)
    losses, w1, w2, grad_w1, grad_w2 = (t.numpy() for t in out)
    return Result(losses=losses[:cfg.steps].astype(np.float64), init=init, params={"w1": w1, "w2": w2},
                  grads={"w1": grad_w1, "w2": grad_w2})


@functools.cache
def compiled():
    """The XLA-compiled program, built on first use (importing TensorFlow takes seconds)."""
    import tensorflow as tf

    def loss_and_grads(x, y, w1, w2):
        with tf.GradientTape() as tape:
            tape.watch([w1, w2])
            # Forward pass: relu(x w1) w2; the loss is the sum of squared errors.
            y_pred = tf.matmul(tf.nn.relu(tf.matmul(x, w1)), w2)
            loss = tf.reduce_sum(tf.square(y_pred - y))
        return loss, tape.gradient(loss, [w1, w2])

    @tf.function(jit_compile=True, reduce_retracing=True)
    def fit(x, y, w1, w2, learning_rate, steps, losses):
        # Step 0 outside the loop, because the result reports its gradients.
        loss, (grad_w1, grad_w2) = loss_and_grads(x, y, w1, w2)
        losses = tf.tensor_scatter_nd_update(losses, [[0]], [loss])
        w1, w2 = w1 - learning_rate * grad_w1, w2 - learning_rate * grad_w2

        def step(t, w1, w2, losses):
            loss, (g1, g2) = loss_and_grads(x, y, w1, w2)
            # Gradient descent, and the loss of this step into the buffer.
            return t + 1, w1 - learning_rate * g1, w2 - learning_rate * g2, \
                tf.tensor_scatter_nd_update(losses, [[t]], [loss])

        _, w1, w2, losses = tf.while_loop(lambda t, *_: t < steps, step, (tf.constant(1), w1, w2, losses))
        return losses, w1, w2, grad_w1, grad_w2

    return fit
