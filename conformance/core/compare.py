"""The assert helpers every family uses: one-line failures that name the implementation, the
settings and what is off; the heavy comparison of a run against the oracle (conformance/core/envelope.py)
with its evidence read in order. They hide themselves from tracebacks; the report appends the
command that reproduces the failing test.
"""
import copy

import numpy as np
import pytest

from conformance.core import diagnosis, envelope, kinks
from implementations.contract import param_shapes


def tag(impl, cfg, seed=None) -> str:
    seed = cfg.seed if seed is None else seed
    return f"[{impl.name}, seed={seed}, {cfg.dtype}]"


def fail(message: str, impl, cfg=None, seed=None):
    __tracebackhide__ = True
    where = tag(impl, cfg, seed) if cfg is not None else f"[{impl.name}]"
    pytest.fail(f"{message} {where}", pytrace=False)


# ----------------------------------------------------------------- arrays and inputs


def assert_arrays(what, arrays, shapes, dtype, impl, cfg):
    """Canonical names, shapes (a hint when transposed) and dtype (None: any) of a mapping of arrays."""
    __tracebackhide__ = True
    if not hasattr(arrays, "keys") or set(arrays.keys()) != set(shapes):
        got = sorted(arrays.keys()) if hasattr(arrays, "keys") else type(arrays).__name__
        fail(f"{what} has keys {got}, but should have {sorted(shapes)}", impl, cfg)
    for name, shape in shapes.items():
        a = arrays[name]
        if not isinstance(a, np.ndarray):
            fail(f"{what}[{name!r}] is a {type(a).__name__}, but should be a numpy.ndarray", impl, cfg)
        if a.shape != shape:
            hint = " (transposed? canonical layout is (in, out))" if a.shape == shape[::-1] else \
                size_hint(name, a.shape, shape, cfg)
            fail(f"{what}[{name!r}] has shape {a.shape}, but should be {shape}{hint}", impl, cfg)
        if dtype is not None and a.dtype != np.dtype(dtype):
            fail(f"{what}[{name!r}] has dtype {a.dtype}, but should be {dtype} (cfg.dtype)", impl, cfg)


def assert_layout(got, x, y, cfg, impl, dtype=None, grads=True):
    """A result's layout: losses, one number per step; init, params and (after a step, unless not
    asked) grads with the canonical names and shapes, and dtype (None: any). Checked before the
    oracle reads a result, so that one it cannot read is named, never met with NumPy's error or an
    infinite difference."""
    __tracebackhide__ = True
    losses = assert_losses(got["losses"], cfg.steps, impl, cfg)
    shapes = param_shapes(cfg.model, cfg.bias, x.shape[1], cfg.hidden, y.shape[1])
    for key in ("init", "params") + (("grads",) if grads and cfg.steps else ()):
        assert_arrays(key, got[key], shapes, dtype, impl, cfg)
    return losses


def assert_losses(losses, steps, impl, cfg):
    """losses: one number per step, as a 1-D array of length steps (a single step's included)."""
    __tracebackhide__ = True
    try:
        a = np.asarray(losses, dtype=np.float64)
    except Exception as e:  # noqa: BLE001 - tensors that require grad raise RuntimeError
        fail(f"losses cannot be read as numbers ({type(e).__name__}: {str(e)[:80]})", impl, cfg)
    if a.shape != (steps,):
        hint = (" (squeezed? one step's losses are shape (1,), not ())" if a.ndim == 0 else
                " (one number per step: a 1-D array)" if a.size == steps else "")
        fail(f"losses has shape {a.shape} for steps={steps}, but should be ({steps},){hint}", impl, cfg)
    return a


TUTORIAL_SIZES = {"in": (1000, 100), "h": (100, 1000), "out": (10,)}


def size_hint(name, got, want, cfg) -> str:
    """Why a parameter has the wrong shape, when a size was read from the wrong place."""
    if len(got) != len(want):
        return ""
    field = {"in": "D_in", "h": "H", "out": "D_out"}
    source = {"in": "x.shape[1]", "h": "cfg.hidden", "out": "y.shape[1]"}
    for dim, g, w in zip(envelope.AXES.get(name, ()), got, want):
        if g == w:
            continue
        if dim == "in" and g == cfg.d_in or dim == "out" and g == cfg.d_out:
            return (f" (likely: {field[dim]} is taken from cfg.{'d_in' if dim == 'in' else 'd_out'}; cfg's sizes only "
                    f"say what data the suite makes: read it from {source[dim]})")
        if g in TUTORIAL_SIZES[dim]:
            return f" (likely: {field[dim]} is hard-coded as {g}, a tutorial cell's; read it from {source[dim]})"
    return ""


def inputs_copy(x, y, cfg) -> tuple:
    """Copies of everything the caller passed, to prove afterwards that nothing changed."""
    init = None if cfg.init is None else {k: (v, np.array(v, copy=True)) for k, v in cfg.init.items()}
    fields = {k: v for k, v in cfg.asdict().items() if k != "init"}
    return copy.deepcopy(x), copy.deepcopy(y), fields, init  # x may be a list (a bad-input case)


def assert_unchanged(before: tuple, x, y, cfg, impl):
    __tracebackhide__ = True
    x0, y0, fields, init = before
    for name, a, b in (("x", x, x0), ("y", y, y0)):
        if not isinstance(b, np.ndarray):
            same = a == b
        else:
            same = a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
        if not same:
            fail(f"train changed the caller's {name} in place", impl, cfg)
    changed = [k for k, v in cfg.asdict().items() if k != "init" and not (fields[k] is v or fields[k] == v)]
    if changed:
        fail(f"train changed cfg fields {changed}", impl, cfg)
    if init is not None:
        if set(cfg.init) != set(init):
            fail("train changed the keys of cfg.init", impl, cfg)
        for k, (given, v) in init.items():
            if cfg.init[k] is not given:
                fail(f"train put another array into the caller's cfg.init[{k!r}]: copy cfg.init, do not assign into it",
                     impl, cfg)
            if not np.array_equal(cfg.init[k], v, equal_nan=True):
                fail(f"train changed cfg.init[{k!r}] in place", impl, cfg)


def result_copy(res) -> dict:
    """A deep copy of a result's arrays, to prove later that they stayed the caller's."""
    out = {}
    for key, value in res.items():
        if hasattr(value, "items"):
            out[key] = {k: np.array(v, copy=True) for k, v in value.items()}
        elif value is not None:
            out[key] = np.array(value, copy=True)
    return out


def named_arrays(res):
    """(label, array) for every array of a result: 'losses', "params['w1']", ... (None values left out)."""
    for key, value in res.items():
        if hasattr(value, "items"):
            yield from ((f"{key}[{k!r}]", v) for k, v in value.items())
        elif value is not None:
            yield key, value


def changed_since(res, copy) -> list:
    """The arrays of a result that no longer hold what they held when it was returned."""
    now = dict(named_arrays(res))
    return [label for label, kept in named_arrays(copy)
            if not np.array_equal(np.asarray(now[label]), kept, equal_nan=True)]


# ----------------------------------------------------------------- against the oracle


def reference_for(got, x, y, cfg):
    """The reference for a call whose result is got: from cfg.init (or the init it reported) and
    cfg.depths (or the depths it reported). Under Adam with unused parameters, the contract's
    convention the run follows (a zero-gradient step, or a skip); where a ReLU input sat within
    rounding of its kink, the side the run took (conformance/core/kinks.py)."""
    start = cfg.init if cfg.init is not None else got["init"]
    depths = (cfg.depths if cfg.depths is not None else got.get("depths")) if cfg.model == "dynamic" else None
    ref = envelope.reference(x, y, cfg, start, depths)
    if cfg.optimizer == "adam" and depths is not None and 0 in list(depths) and envelope.findings(got, ref):
        skip = envelope.reference(x, y, cfg, start, depths, unused="skip")
        if not envelope.findings(got, skip):
            return skip
        ref = skip if envelope.findings(got, skip)[0].step > envelope.findings(got, ref)[0].step else ref
    if envelope.findings(got, ref):
        return kinks.at_kinks(got, ref, x, y) or ref
    return ref


def assert_matches_reference(impl, got, x, y, cfg, context: str = ""):
    """got (impl's result for x, y, cfg) against the oracle from the same start: the loss at step 0,
    the step-0 gradients, every later loss, the final parameters, each within its derived bound."""
    __tracebackhide__ = True
    assert_layout(got, x, y, cfg, impl)
    ref = reference_for(got, x, y, cfg)
    found = envelope.findings(got, ref)
    if found:
        fail(explain(found, ref) + (f"; {context}" if context else "") + diagnosed(impl, got, ref, x, y, found),
             impl, cfg)
    return ref


def diagnosed(impl, got, ref, x, y, found) -> str:
    """'; likely: ...' when a named bug reproduces the run where the oracle does not, else ''."""
    first = found[0]
    if first.kind in ("length", "precision"):
        return ""
    step = first.step if first.kind in ("losses", "loss0") else (0 if first.kind == "grads" else ref.cfg.steps)
    text = diagnosis.diagnose(got, ref, x, y, step, cell_lr=impl.config.lr)
    return f"; {text}" if text else ""


def _pair(finding) -> tuple:
    """The two numbers with as many digits as it takes to tell them apart (6 to 17)."""
    for digits in range(6, 18):
        a, b = f"{finding.got:.{digits}g}", f"{finding.expected:.{digits}g}"
        if a != b:
            break
    return a, b


def explain(found: list, ref) -> str:
    """The first disagreement in evidence order, in words, then how many others there are."""
    first = found[0]
    steps = ref.cfg.steps
    if first.kind == "length":
        text = f"losses has shape {first.got}, but should be {first.expected} (one loss per step)"
    elif first.kind == "loss0":
        text = (f"loss at step 0 is {_pair(first)[0]}, the reference's {_pair(first)[1]} ({_rel(first)}): "
                "the forward pass or the loss differs")
    elif first.kind == "grads":
        text = (f"{first.name} step-0 gradient differs from the reference by {_rel(first)}; the loss at step 0 "
                "matches, so the forward pass and the loss are right and the backward pass is not")
    elif first.kind == "losses":
        text = (f"loss diverged from the reference at step {first.step}: {' vs '.join(_pair(first))} "
                f"({_rel(first)}; {first.over} of {steps} steps over); the loss at step 0 and the step-0 gradients "
                "match, so the update differs")
    elif first.kind == "precision":
        dtype = ref.cfg.dtype
        text = (f"the final parameters are the float64 reference's rounded to {dtype}: {first.error:.0f} of the "
                f"{first.bound:.0f} entries that computing in {dtype} leaves {envelope.NOISY_ULPS:.0f} or more ulps "
                f"away (the oracle's own {dtype} runs) lie within one ulp of it: the run computes in higher precision "
                f"than cfg.dtype={dtype!r} and rounds only what it returns; every computation should be in "
                "cfg.dtype (convert x, y and the parameters to it, and keep them there)")
    else:
        text = (f"{first.name} after {steps} step{'s' if steps != 1 else ''} differs from the reference by "
                f"{_rel(first)}, though every reported loss matched (each is taken before its update): the last "
                "update differs, or the returned params are not the ones trained")
    others = [f for f in found[1:] if f.kind in ("grads", "params")]
    if others:
        text += " (also off: " + ", ".join(f"{'step-0 grad' if f.kind == 'grads' else 'final'} {f.name}"
                                           for f in others[:4]) + ")"
    return text


def _rel(f) -> str:
    """'relative error 3.1e-02, rounding here allows 4e-07' for a finding."""
    scale = f.scale if f.scale > 0 else 1.0
    return f"relative error {f.error / scale:.1e}, rounding here allows {f.bound / scale:.0e}"
