"""Contract and shapes: the result's keys, lengths, canonical names, shapes and dtypes."""
import numpy as np
import pytest

from implementations.contract import STRUCTURAL
from tests.helpers import assert_matches_oracle, fail, make_data, setup, shapes_of


def check_arrays(what, arrays, shapes, dtype, impl, cfg):
    __tracebackhide__ = True
    if not hasattr(arrays, "keys") or set(arrays.keys()) != set(shapes):
        got = sorted(arrays.keys()) if hasattr(arrays, "keys") else type(arrays).__name__
        fail(f"{what} has keys {got}, but should have {sorted(shapes)}", impl, cfg)
    for name, shape in shapes.items():
        a = arrays[name]
        if not isinstance(a, np.ndarray):
            fail(f"{what}[{name!r}] is a {type(a).__name__}, but should be a numpy.ndarray", impl, cfg)
        if a.shape != shape:
            hint = " (transposed? canonical layout is (in, out))" if a.shape == shape[::-1] else ""
            fail(f"{what}[{name!r}] has shape {a.shape}, but should be {shape}{hint}", impl, cfg)
        if a.dtype != np.dtype(cfg.dtype):
            fail(f"{what}[{name!r}] has dtype {a.dtype}, but should be {cfg.dtype} (cfg.dtype)", impl, cfg)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_result_layout(impl, dtype):
    cfg = impl.config.replace(dtype=dtype, steps=3)
    x, y = make_data(cfg, 0)
    res = impl.run(x, y, cfg)
    losses = np.asarray(res["losses"])
    if losses.shape != (3,) or not np.isfinite(losses).all():
        fail(f"losses should be 3 finite numbers for steps=3, got {losses!r}", impl, cfg)
    for key in ("init", "params", "grads"):
        check_arrays(key, res[key], shapes_of(cfg, x, y), dtype, impl, cfg)


def test_init_is_cfg_init(impl):
    x, y, cfg = setup(impl, 0, "float64", steps=2)
    cfg = cfg.replace(init={k: v + 0.01 for k, v in cfg.init.items()})  # not what it would draw
    res = impl.run(x, y, cfg)
    for k, v in cfg.init.items():
        if not np.array_equal(res["init"][k], v):
            fail(f"init[{k!r}] differs from cfg.init[{k!r}] (max difference "
                 f"{np.max(np.abs(res['init'][k] - v)):.1e})", impl, cfg)


def test_zero_steps(impl):
    x, y, cfg = setup(impl, 0, "float64", steps=0, depths=() if impl.dynamic else None)
    res = impl.run(x, y, cfg)
    if np.asarray(res["losses"]).shape != (0,):
        fail(f"losses should be empty for steps=0, got shape {np.asarray(res['losses']).shape}", impl, cfg)
    for k, v in cfg.init.items():
        if not np.array_equal(res["params"][k], v):
            fail(f"params[{k!r}] moved although steps=0", impl, cfg)


def test_seed_decides_init(impl):
    cfg = impl.config.replace(steps=0, dtype="float64")
    x, y = make_data(cfg, 0)
    a, b, c = (impl.run(x, y, cfg.replace(seed=s))["init"] for s in (0, 0, 1))
    if any(not np.array_equal(a[k], b[k]) for k in a):
        fail("the same cfg.seed drew different initial parameters", impl, cfg)
    if all(np.array_equal(a[k], c[k]) for k in a):
        fail("cfg.seed 0 and 1 drew the same initial parameters: is the seed ignored?", impl, cfg)


@pytest.mark.dynamic_only
def test_depths_are_seeded_and_reported(impl):
    cfg = impl.config.replace(steps=200, dtype="float64")
    x, y = make_data(cfg, 0)
    first, again, other = (np.asarray(impl.run(x, y, cfg.replace(seed=s))["depths"]) for s in (0, 0, 1))
    if first.shape != (cfg.steps,) or set(first.tolist()) != set(range(cfg.max_depth + 1)):
        fail(f"depths should be {cfg.steps} draws covering 0..{cfg.max_depth}, got "
             f"shape {first.shape} with values {sorted(set(first.tolist()))}", impl, cfg)
    if not np.array_equal(first, again) or np.array_equal(first, other):
        fail("depths should repeat with the same cfg.seed and change with another", impl, cfg)
    given = tuple(int(d) for d in other[::-1])
    got = np.asarray(impl.run(x, y, cfg.replace(depths=given))["depths"])
    if not np.array_equal(got, given):
        fail("reported depths differ from cfg.depths", impl, cfg)


FLIP = {"model": {"two_layer": "dynamic", "dynamic": "two_layer"}, "bias": {False: True, True: False},
        "loss": {"sum": "mean", "mean": "sum"}, "optimizer": {"sgd": "adam", "adam": "sgd"}}


@pytest.mark.parametrize("field", STRUCTURAL)
def test_other_structure_refused_or_right(impl, field):
    """Asked for a structure it was not written for, it refuses by name or computes it right.

    One step (loss, step-0 gradients, the update): a cell's settings can diverge under
    another structure (randn weights through the dynamic net's shared layer overflow by step 3).
    """
    change = {field: FLIP[field][getattr(impl.config, field)]}
    try:
        x, y, cfg = setup(impl, 0, "float64", steps=1, **change)
    except NotImplementedError as e:
        if field not in str(e):
            fail(f"NotImplementedError for {change} should name {field!r}, it says: {e}", impl)
        return
    assert_matches_oracle(impl, x, y, cfg)
