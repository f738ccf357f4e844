"""Contract and shapes: the call of its own cell works, refusals name the field, the result's keys,
lengths, canonical names, shapes and dtypes, init and seed, and depths drawn uniformly."""
import numpy as np
import pytest

from conformance.data import make_data
from conformance.core import envelope, oracle
from conformance.core.compare import assert_layout, fail
from conformance.core.start import DEEPEST, dynamic_changes, setup, small_sizes
from conformance.core.stats import uniformity

# The drawn-depths tests together raise a false alarm on a correct implementation with
# probability at most 1e-6: six chi-square tests, each at 1e-6 / 6.
DEPTHS_FALSE_ALARM = 1e-6
DEPTHS_TESTS = 6
DIVERGE_STEPS = 20


@pytest.mark.own_cell
def test_own_cell_runs(impl):
    """A one-step call of its own cell (every other check builds on it)."""
    fault = impl.own_fault()
    if fault is not None:  # its import or this call crashed, exited or hung: that status, not a pass
        raise fault
    problem = impl.preflight()
    if problem:
        fail(problem, impl)


def test_refusals_name_the_field(impl):
    """Every structure is either computed or refused with NotImplementedError naming the field."""
    bad = {k: d for k, (verdict, d) in impl.probe().items() if verdict == "broken" and d.startswith("NotImplementedError")}
    if bad:
        sid, detail = next(iter(bad.items()))
        fail(f"structure {sid}: {detail}; a refusal should raise NotImplementedError naming the field "
             f"({len(bad)} structure(s) like this)", impl)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_result_layout(impl, dtype):
    cfg = impl.config.replace(dtype=dtype, steps=3)
    x, y = make_data(cfg, 0)
    res = impl.run(x, y, cfg)
    losses = assert_layout(res, x, y, cfg, impl, dtype)
    if not np.isfinite(losses).all():
        fail(f"losses should be 3 finite numbers for steps=3, got {losses!r}", impl, cfg)


def test_init_is_cfg_init(impl):
    x, y, cfg = setup(impl, 0, "float64", steps=2)
    cfg = cfg.replace(init={k: v + 0.01 for k, v in cfg.init.items()})  # not what it would draw
    res = impl.run(x, y, cfg)
    for k, v in cfg.init.items():
        if not np.array_equal(res["init"][k], v):
            fail(f"init[{k!r}] differs from cfg.init[{k!r}] (max difference "
                 f"{np.max(np.abs(res['init'][k] - v)):.1e})", impl, cfg)


def test_zero_steps(impl):
    x, y, cfg = setup(impl, 0, "float64", steps=0, depths=() if impl.config.model == "dynamic" else None)
    res = impl.run(x, y, cfg)
    if np.asarray(res["losses"]).shape != (0,):
        fail(f"losses should be empty for steps=0, got shape {np.asarray(res['losses']).shape}", impl, cfg)
    for k, v in cfg.init.items():
        if not np.array_equal(res["params"][k], v):
            fail(f"params[{k!r}] moved although steps=0", impl, cfg)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow warnings: expected here
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_diverging_run_returns(impl, dtype):
    """Any positive finite lr is valid: at one so large that the oracle's own loss overflows
    within DIVERGE_STEPS steps (the cell's lr raised 1e4-fold until it does), train still returns
    the whole result, with inf or nan where the run overflowed. Raising, or stopping early, fails."""
    x, y, cfg = setup(impl, 0, dtype, steps=DIVERGE_STEPS)
    lr = cfg.lr
    with np.errstate(all="ignore"):
        while lr < 1e300 and np.isfinite(oracle.train(x, y, cfg.replace(lr=lr)).losses).all():
            lr *= 1e4
    cfg = cfg.replace(lr=lr)
    try:
        res = impl.run(x, y, cfg)
    except Exception as e:  # noqa: BLE001 - any exception at a valid lr is the failure
        fail(f"lr={lr:g}, at which the loss overflows within {DIVERGE_STEPS} steps, made train raise "
             f"{type(e).__name__} ({str(e)[:120]}): any positive finite lr is valid; return the losses as they come "
             "(inf, nan)", impl, cfg)
    losses = np.asarray(res["losses"])
    if losses.shape != (cfg.steps,):
        fail(f"lr={lr:g}, at which the loss overflows: losses has shape {losses.shape}, not ({cfg.steps},): "
             "does it stop early when the loss is no longer finite? Run every step", impl, cfg)
    assert_layout(res, x, y, cfg, impl, dtype)
    assert_diverged_as_it_happened(impl, res, x, y, cfg)


def assert_diverged_as_it_happened(impl, res, x, y, cfg):
    """The losses of a diverging run as they happened: the oracle's before it overflows, non-finite
    from the step it overflows at on (any step the oracle's runs in cfg.dtype overflow at, rounding
    decides which), and never finite again. (Not the final parameters: where only the loss, a sum of
    squares, overflows, the gradients may stay finite in one correct order of the arithmetic and not
    in another: a mean's 1/N applied first, as autodiff does.)"""
    __tracebackhide__ = True
    losses = np.asarray(res["losses"], dtype=np.float64)
    first, last = envelope.overflow(x, y, cfg, cfg.init, cfg.depths)
    bad = ~np.isfinite(losses)
    got = int(np.argmax(bad)) if bad.any() else cfg.steps
    when = f"the run overflows at step {first}" + (f" to {last}" if last > first else "") + f" in {cfg.dtype}"
    if got > last:
        shown = ", ".join(f"{v:.4g}" for v in losses[last:last + 3])
        fail(f"lr={cfg.lr:g}: {when}, but its losses are finite " + ("throughout" if got == cfg.steps else
             f"up to step {got}") + f" (from step {last}: {shown}): masked, clipped or replaced (np.nan_to_num, "
             "np.clip, a last good value)? Report the losses as they happened, inf or nan", impl, cfg)
    if got < first:
        fail(f"lr={cfg.lr:g}: {when}, but its loss is {losses[got]} already at step {got}", impl, cfg)
    again = np.flatnonzero(~bad[got:])
    if again.size:
        t = got + int(again[0])
        fail(f"lr={cfg.lr:g}: {when}, and its losses are non-finite from step {got}, but finite again at step {t} "
             f"({losses[t]:.4g}): once a run overflows, every later loss is inf or nan (a loss masked or replaced, "
             "or a run restarted?)", impl, cfg)
    with np.errstate(all="ignore"):
        ref = envelope.reference(x, y, cfg, cfg.init, cfg.depths)
        err, bound = np.abs(losses - ref.run["losses"]), ref.bound("losses")
    wrong = np.flatnonzero(~(err[:min(first, ref.horizon)] <= bound[:min(first, ref.horizon)]))
    if wrong.size:
        t = int(wrong[0])
        fail(f"lr={cfg.lr:g}: loss at step {t}, before the run overflows, is {losses[t]:.6g}, the oracle's "
             f"{ref.run['losses'][t]:.6g} (rounding allows {bound[t]:.2g})", impl, cfg)


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
    """50 draws: two seeds draw the same 50 depths by chance with probability (max_depth+1)**-50."""
    cfg = impl.config.replace(steps=50, dtype="float64", **dynamic_changes(impl))
    cfg = cfg.replace(max_depth=max(cfg.max_depth, 1))  # with max_depth 0 every seed draws the same
    x, y = make_data(cfg, 0)
    first, again, other = (np.asarray(impl.run(x, y, cfg.replace(seed=s))["depths"]) for s in (0, 0, 1))
    if first.shape != (cfg.steps,):
        fail(f"depths should be {cfg.steps} draws, got shape {first.shape}", impl, cfg)
    if not np.array_equal(first, again) or np.array_equal(first, other):
        fail("depths should repeat with the same cfg.seed and change with another", impl, cfg)
    given = tuple(int(d) for d in other[::-1])
    got = np.asarray(impl.run(x, y, cfg.replace(depths=given))["depths"])
    if not np.array_equal(got, given):
        fail("reported depths differ from cfg.depths", impl, cfg)


@pytest.mark.dynamic_only
@pytest.mark.parametrize("max_depth", [1, 3, DEEPEST])
def test_drawn_depths_are_uniform(impl, max_depth):
    """Depths drawn from cfg.seed: independent and uniform on 0..max_depth. Pearson's chi-square
    on the counts of each depth and on the counts of each pair of consecutive depths; each test
    fails a correct implementation with probability DEPTHS_FALSE_ALARM / DEPTHS_TESTS."""
    steps = 720
    cfg = impl.config.replace(**{**dynamic_changes(impl), **small_sizes()}, steps=steps, max_depth=max_depth,
                              lr=1e-9, dtype="float64", seed=11 + max_depth)
    x, y = make_data(cfg, 0)
    depths = np.asarray(impl.run(x, y, cfg)["depths"])
    k = max_depth + 1
    if depths.shape != (steps,) or depths.min() < 0 or depths.max() > max_depth:
        fail(f"drawn depths should be {steps} integers in 0..max_depth={max_depth}, got values "
             f"{sorted(set(depths.ravel().tolist()))[:10]}", impl, cfg)
    alpha = DEPTHS_FALSE_ALARM / DEPTHS_TESTS
    counts = np.bincount(depths, minlength=k)
    stat, p = uniformity(counts)
    if p < alpha:
        fail(f"drawn depths are not uniform on 0..{max_depth}: counts {counts.tolist()} of {steps} "
             f"(chi-square {stat:.1f}, p = {p:.1e} < {alpha:.1e})", impl, cfg)
    pairs = np.bincount(depths[:-1] * k + depths[1:], minlength=k * k)
    stat, p = uniformity(pairs)
    if p < alpha:
        fail(f"consecutive drawn depths are not independent: pair counts {pairs.tolist()} (chi-square "
             f"{stat:.1f}, p = {p:.1e} < {alpha:.1e}); draw each step's depth afresh", impl, cfg)
