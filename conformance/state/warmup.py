"""Each framework's first-use set-up, run before the baseline is taken: its doing, once per process."""
import importlib
import os
import sys

import numpy as np

from conformance.state.frameworks import BLAS
from conformance.state.generators import saved_rngs
from conformance.state.changes import diff, remember, snapshot
from conformance.state.values import EXPANDED, MISSING


BASELINE = {}  # the state every test starts from: taken at start-up, extended by each warm-up
WARMED = set()


def take_baseline() -> dict:
    BASELINE.clear()
    BASELINE.update(snapshot())
    remember(BASELINE)
    return BASELINE


def ensure_warm(frameworks) -> list:
    """Warm up the frameworks not warmed yet, and add what their set-up changed to the baseline
    (it is the framework's doing, once per process). Returns those changes."""
    new = set(frameworks) - WARMED
    if not new:
        return []
    before = snapshot()
    warm_up(new)
    WARMED.update(new)
    after = snapshot()
    changes = diff(before, after)
    if BASELINE:
        for change in changes:
            _extend(change)
        BASELINE.update({k: v for k, v in after.items() if k not in BASELINE})  # settings of a new framework
        remember(BASELINE)
    return changes


def _extend(change):
    """Record change.after in BASELINE as the value the setting should have from now on."""
    name = change.setting
    for prefix, key in (("environment variable ", "environ"), ("logging: logger ", "loggers")):
        if name.startswith(prefix):
            sub = name.removeprefix(prefix)
            if change.after is MISSING:
                BASELINE[key].pop(sub, None)
            else:
                BASELINE[key][sub] = change.after
            return
    prefix, _, sub = name.rpartition(" ")
    if prefix in EXPANDED:
        BASELINE[prefix] = dict(BASELINE.get(prefix, {}), **{sub: change.after})
    else:
        BASELINE[name] = change.after


def warm_up(frameworks) -> None:
    """Run each framework's one-time set-up now (imports, first use, compilers), and import each
    other library named 'module:NAME'."""
    frameworks = set(frameworks)
    np.ones((2, 2)) @ np.ones((2, 2))
    if frameworks & {"torch", "torch.compile"}:
        _warm_torch("torch.compile" in frameworks)
    if frameworks & {"tensorflow", "keras", "tf.jit_compile"}:
        _warm_tensorflow("tf.jit_compile" in frameworks)
    if "jax" in frameworks:
        _warm_jax()
    for name in sorted(f.removeprefix("module:") for f in frameworks if f.startswith("module:")):
        try:  # another library a plug-in imports: what its import changes is its own doing
            with saved_rngs():
                importlib.import_module(name)
        except (Exception, SystemExit):  # noqa: BLE001 - not installed, not a module, or failing: the plug-in's import will say
            pass
    import threadpoolctl

    BLAS[:] = threadpoolctl.ThreadpoolController().lib_controllers


def _warm_torch(compile_too: bool):
    import torch

    with saved_rngs():
        layer = torch.nn.Linear(2, 2)
        for opt in (torch.optim.SGD(layer.parameters(), lr=0.1), torch.optim.Adam(layer.parameters(), lr=0.1)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(layer(torch.ones(1, 2)), torch.zeros(1, 2)).backward()
            opt.step()
        if compile_too:
            torch.compile(lambda a: a * 2 + 1, fullgraph=True)(torch.ones(2))
            # inductor lifts the recursion limit to 2000 whenever it compiles a graph (compile_fx.py),
            # but not when its on-disk cache answers: lifted here, as its next compile would
            sys.setrecursionlimit(max(sys.getrecursionlimit(), 2000))


def _warm_tensorflow(xla: bool):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    with saved_rngs():
        w = tf.Variable([[1.0]])
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.matmul(w, w))
        tape.gradient(loss, [w])
        tf.function(lambda a: a * 2)(tf.constant(1.0))
        if xla:
            tf.function(lambda a: a * 2, jit_compile=True)(tf.constant(1.0))
        graph = tf.Graph()
        with graph.as_default():
            v = tf.Variable(1.0)
            init = tf.compat.v1.global_variables_initializer()
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(init)
            sess.run(v)


def _warm_jax():
    import jax
    import jax.numpy as jnp

    jax.jit(jax.value_and_grad(lambda a: jnp.sum(a * a)))(jnp.ones(2))
    with jax.enable_x64(True):
        jax.jit(lambda a: a + 1)(jnp.ones(2, dtype=jnp.float64))
