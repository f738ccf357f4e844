"""Fast: JAX. jax.value_and_grad gives the loss and the gradients, and the whole training loop
is one XLA program: lax.fori_loop under jax.jit, so Python runs once per call, not once per step.

XLA compiles the program once per shape, dtype and length bucket (the losses buffer is rounded
up to a power of two, so 300 and 500 steps share a program); later calls reuse it.
"""
import functools

import numpy as np

from implementations.contract import Result, check, start

CONFIG = None  # the warm-up cell: N, D_in, H, D_out = 64, 1000, 100, 10; lr 1e-6; 500 steps
TAGS = ("fast", "jax", "whole_loop")


def train(x, y, cfg):
    shapes = check(x, y, cfg)
    import jax

    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    if cfg.steps == 0:
        return Result(losses=np.zeros(0), init=init, params=p, grads=None)

    # float64 only inside this call: jax.enable_x64 is a context, not a process-wide switch.
    with jax.enable_x64(cfg.dtype == "float64"):
        bucket = 1 << (int(cfg.steps) - 1).bit_length()
        out = compiled()(x.astype(cfg.dtype), y.astype(cfg.dtype), p["w1"], p["w2"], cfg.lr, cfg.steps, bucket)
        losses, w1, w2, grad_w1, grad_w2 = (np.array(a, dtype=cfg.dtype) for a in out)

    return Result(losses=losses[:cfg.steps].astype(np.float64), init=init, params={"w1": w1, "w2": w2},
                  grads={"w1": grad_w1, "w2": grad_w2})


@functools.cache
def compiled():
    """The jitted program, built on first use (importing JAX costs a second)."""
    import jax
    import jax.numpy as jnp

    def loss_fn(w, x, y):
        w1, w2 = w
        # Forward pass: relu(x w1) w2; the loss is the sum of squared errors.
        y_pred = jnp.maximum(x @ w1, 0) @ w2
        return jnp.sum((y_pred - y) ** 2)

    # One call gives the loss and the gradient with respect to w = (w1, w2).
    loss_and_grads = jax.value_and_grad(loss_fn)

    @functools.partial(jax.jit, static_argnames="bucket")
    def fit(x, y, w1, w2, learning_rate, steps, bucket):
        learning_rate = jnp.asarray(learning_rate, dtype=x.dtype)

        def step(t, carry):
            (w1, w2), losses = carry
            loss, (grad_w1, grad_w2) = loss_and_grads((w1, w2), x, y)
            # Gradient descent, and the loss of this step into the buffer.
            return (w1 - learning_rate * grad_w1, w2 - learning_rate * grad_w2), losses.at[t].set(loss)

        # Step 0 outside the loop, because the result reports its gradients.
        loss, grads = loss_and_grads((w1, w2), x, y)
        w = (w1 - learning_rate * grads[0], w2 - learning_rate * grads[1])
        losses = jnp.zeros(bucket, dtype=x.dtype).at[0].set(loss)
        w, losses = jax.lax.fori_loop(1, steps, step, (w, losses))
        return losses, w[0], w[1], grads[0], grads[1]

    return fit
