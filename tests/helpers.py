"""Everything the check families share: loading implementations, data, running, comparing.

The assert helpers hide themselves from tracebacks and fail with one line of the form
``w1 grad max error 3e-02, but should be <= 1e-06 [torch_autograd, seed=0, float64]``;
conftest.py appends the command that reproduces the failing test.
"""
import contextlib
import importlib
import importlib.util
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pytest

from implementations.contract import RESULT_KEYS, Config, param_shapes

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "implementations"
CHAPTERS = ("warmup", "autograd", "nn", "fast")


class ImplError(Exception):
    """An implementation module that cannot be used, with the reason."""


@dataclass
class Impl:
    """One implementation under test."""

    name: str
    module: object
    config: Config
    tags: tuple
    spec: str = ""  # what --impl was given; empty for a bundled module
    last: tuple = None  # (steps, final loss) of the latest run, for the live progress line

    def __repr__(self):
        return self.name

    @property
    def dynamic(self) -> bool:
        return self.config.model == "dynamic"

    def run(self, x, y, cfg) -> dict:
        """Call train and return its result as a dict, failing cleanly on missing keys."""
        result = as_result(self, self.module.train(x, y, cfg), cfg)
        try:
            losses = np.asarray(result["losses"], dtype=float).ravel()
            self.last = (losses.size, float(losses[-1])) if losses.size else self.last
        except (TypeError, ValueError):  # losses that are not numbers: the contract family says so
            pass
        return result

    def repro_flag(self) -> str:
        return f" --impl={self.spec}" if self.spec else ""


def as_result(impl: Impl, raw, cfg) -> dict:
    if not hasattr(raw, "keys") or not hasattr(raw, "__getitem__"):
        fail(f"train returned {type(raw).__name__}, but should return a Result or a mapping "
             f"with keys {list(RESULT_KEYS)}", impl)
    got = {k: raw[k] for k in raw.keys()}
    need = [k for k in RESULT_KEYS if k != "grads" or cfg.steps > 0]
    if cfg.model == "dynamic":
        need.append("depths")
    missing = [k for k in need if got.get(k) is None]
    if missing:
        fail(f"train returned a result without {missing}; it has {sorted(got)}", impl)
    return got


def _from_module(module, name: str, spec: str) -> Impl:
    where = spec or f"implementations/{name}.py"
    if not callable(getattr(module, "train", None)):
        raise ImplError(f"{where}: defines no train(x, y, cfg) function")
    try:
        config = Config.of(getattr(module, "CONFIG", None))
    except (TypeError, ValueError) as e:
        raise ImplError(f"{where}: bad CONFIG: {e}") from None
    tags = getattr(module, "TAGS", ())
    if isinstance(tags, str) or not all(isinstance(t, str) and t.isidentifier() for t in tags):
        raise ImplError(f"{where}: TAGS must be a sequence of identifier-like words, got {tags!r}")
    return Impl(name, module, config, tuple(tags), spec)


def load(spec: str) -> Impl:
    """Load a plug-in from a .py path or a dotted module name (what --impl takes)."""
    path = Path(spec)
    try:
        if spec.endswith(".py") or path.exists():
            if not path.is_file():
                raise ImplError(f"{spec}: no such file")
            name = path.stem
            module_spec = importlib.util.spec_from_file_location(f"_impl_{name}", path.resolve())
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(spec)
            name = spec.rpartition(".")[2]
    except ImplError:
        raise
    except Exception as e:  # the module's own import failed: say which module and why
        raise ImplError(f"{spec}: import failed: {type(e).__name__}: {e}") from None
    return _from_module(module, name, spec)


def bundled() -> list:
    """Every module in implementations/ that defines train, in teaching order."""
    impls = []
    for path in sorted(BUNDLED.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        module = importlib.import_module(f"implementations.{path.stem}")
        if hasattr(module, "train"):
            impls.append(_from_module(module, path.stem, ""))
    order = getattr(importlib.import_module("implementations"), "ORDER", ())
    rank = {n: i for i, n in enumerate(order)}
    return sorted(impls, key=lambda i: (rank.get(i.name, len(rank)), i.name))


def shown_path(path) -> str:
    """path as a user would type it: relative to the working directory when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def chapter(impl: Impl) -> str:
    return next((t for t in impl.tags if t in CHAPTERS), "other")


# ----------------------------------------------------------------- data and settings


def make_data(cfg: Config, seed: int):
    """The suite's x, y for cfg (its batch, d_in, d_out and data), in cfg.dtype."""
    rng = np.random.default_rng([seed, 7])
    shape = (cfg.batch, cfg.d_in)
    x = rng.standard_normal(shape) if cfg.data == "normal" else rng.uniform(-1, 1, shape)
    y = rng.standard_normal((cfg.batch, cfg.d_out))
    return x.astype(cfg.dtype), y.astype(cfg.dtype)


def tag(impl: Impl, cfg: Config, seed=None) -> str:
    seed = cfg.seed if seed is None else seed
    return f"[{impl.name}, seed={seed}, {cfg.dtype}]"


def fail(message: str, impl: Impl, cfg: Config = None, seed=None):
    __tracebackhide__ = True
    where = tag(impl, cfg, seed) if cfg is not None else f"[{impl.name}]"
    pytest.fail(f"{message} {where}", pytrace=False)


def own_init(impl: Impl, cfg: Config, x, y) -> dict:
    """The implementation's own starting parameters for cfg (a run of 0 steps)."""
    res = impl.run(x, y, cfg.replace(steps=0, depths=() if cfg.depths is not None else None))
    return {k: np.array(v, dtype=cfg.dtype) for k, v in res["init"].items()}


def setup(impl: Impl, seed: int = 0, dtype: str = "float64", **changes):
    """Data, and a cfg for impl's tutorial cell starting from its own init: the usual test start."""
    cfg = impl.config.replace(seed=seed, dtype=dtype, **changes)
    x, y = make_data(cfg, seed)
    if cfg.init is None:
        cfg = cfg.replace(init=own_init(impl, cfg, x, y))
    if cfg.model == "dynamic" and cfg.depths is None:
        rng = np.random.default_rng([seed, 3])
        cfg = cfg.replace(depths=tuple(int(d) for d in rng.integers(0, cfg.max_depth + 1, cfg.steps)))
    return x, y, cfg


def shapes_of(cfg: Config, x, y) -> dict:
    return param_shapes(cfg.model, cfg.bias, x.shape[1], cfg.hidden, y.shape[1])


def to64(params: Mapping) -> dict:
    return {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}


# ----------------------------------------------------------------- comparing


def rel_error(actual, expected) -> float:
    """Norm-wise relative error ||a - e|| / ||e|| (absolute where e is all zeros)."""
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return math.inf
    scale = np.linalg.norm(e)
    return float(np.linalg.norm(a - e) / (scale if scale > 0 else 1.0))


def assert_params_close(what: str, actual: Mapping, expected: Mapping, bound: float, impl, cfg):
    """Every canonical array within ``bound`` norm-wise relative error; names each offender."""
    __tracebackhide__ = True
    errors = {k: rel_error(actual[k], expected[k]) for k in expected}
    bad = {k: e for k, e in errors.items() if not e <= bound}
    if bad:
        worst = max(bad, key=bad.get)
        others = ", ".join(f"{k} {e:.1e}" for k, e in bad.items() if k != worst)
        fail(f"{worst} {what} relative error {bad[worst]:.1e}, but should be <= {bound:.0e}"
             + (f" (also over: {others})" if others else ""), impl, cfg)


def loss_errors(actual, expected, floor: float):
    """Per step |l - ref| / max(|ref|, floor * |ref[0]|): relative, until the loss nears zero."""
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return np.abs(a - e) / np.maximum(np.abs(e), floor * abs(e[0]) if e.size else 1.0)


def assert_losses_close(actual, expected, bound: float, floor: float, impl, cfg):
    """Per step loss_errors within bound; names the first step over it."""
    __tracebackhide__ = True
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        fail(f"losses has shape {a.shape}, but should be {e.shape}", impl, cfg)
    err = loss_errors(a, e, floor)
    over = np.flatnonzero(~(err <= bound))
    if over.size:
        t = int(over[0])
        fail(f"loss diverged from the reference at step {t}: {a[t]:.6g} vs {e[t]:.6g}, relative error "
             f"{err[t]:.1e}, but should be <= {bound:.0e} ({over.size} of {e.size} steps over)", impl, cfg)


# ----------------------------------------------------------------- process-wide state


def process_state() -> dict:
    """What a train call must leave as it found it, for the frameworks already imported."""
    state = {
        "numpy global RNG": np.random.get_state()[1].tobytes(),
        "python random state": random.getstate(),
        "numpy print options": np.get_printoptions(),
        "numpy error handling": np.geterr(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        state.update({
            "torch default dtype": torch.get_default_dtype(),
            "torch thread count": torch.get_num_threads(),
            "torch grad mode": torch.is_grad_enabled(),
            "torch global RNG": torch.get_rng_state().numpy().tobytes(),
            "torch deterministic algorithms": torch.are_deterministic_algorithms_enabled(),
        })
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "executing_eagerly"):
        state["tensorflow eager mode"] = tf.executing_eagerly()
    return state


# The state every process starts with: a train call must leave these so, whatever ran before.
DEFAULTS = {"torch default dtype": "torch.float32", "torch grad mode": True,
            "torch deterministic algorithms": False, "tensorflow eager mode": True}


@contextlib.contextmanager
def distinct_rng_state(seed: int = 20260229):
    """Put the global RNGs in a state no train call would seed them to; restore them after.

    Without this, an implementation that seeds globally goes unseen once any earlier call
    has seeded the global RNG to the same value.
    """
    saved_np, saved_py = np.random.get_state(), random.getstate()
    torch = sys.modules.get("torch")
    saved_torch = torch.get_rng_state() if torch is not None else None
    np.random.seed(seed)
    random.seed(seed)
    if torch is not None:
        torch.manual_seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved_np)
        random.setstate(saved_py)
        if torch is not None:
            torch.set_rng_state(saved_torch)


def changed_state(before: dict, after: dict) -> list:
    """Names of process-wide settings that differ, or that are off their start-up default."""
    changed = [k for k in before if k in after and before[k] != after[k]]
    return changed + [k for k, v in DEFAULTS.items() if k in after and k not in changed and str(after[k]) != str(v)]


def snapshot(x, y, cfg) -> tuple:
    """Copies of everything the caller passed, to prove afterwards that nothing changed."""
    init = None if cfg.init is None else {k: np.array(v, copy=True) for k, v in cfg.init.items()}
    fields = {k: v for k, v in cfg.asdict().items() if k != "init"}
    return x.copy(), y.copy(), fields, init


def assert_unchanged(before: tuple, x, y, cfg, impl):
    __tracebackhide__ = True
    x0, y0, fields, init = before
    for name, a, b in (("x", x, x0), ("y", y, y0)):
        if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
            fail(f"train changed the caller's {name} in place", impl, cfg)
    changed = [k for k, v in cfg.asdict().items() if k != "init" and not (fields[k] is v or fields[k] == v)]
    if changed:
        fail(f"train changed cfg fields {changed}", impl, cfg)
    if init is not None:
        if set(cfg.init) != set(init):
            fail("train changed the keys of cfg.init", impl, cfg)
        for k, v in init.items():
            if not np.array_equal(cfg.init[k], v, equal_nan=True):
                fail(f"train changed cfg.init[{k!r}] in place", impl, cfg)


# ----------------------------------------------------------------- devices


def cuda_devices() -> list:
    """The CUDA devices torch sees ("cuda:0", ...); empty without torch or CUDA."""
    try:
        import torch
    except ImportError:
        return []
    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def cuda_missing_reason() -> str:
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if torch.version.cuda is None:
        return f"no CUDA: torch {torch.__version__} is a CPU-only build"
    return "no CUDA: torch.cuda.is_available() is False (no GPU or driver on this machine)"


# ----------------------------------------------------------------- against the oracle
# The measurements behind these bounds are in tests/test_trajectory.py's docstring.

FLOAT32_HORIZON = 50
LOSS_FLOOR = 1e-8
ORACLE_BOUNDS = {  # (dtype, optimizer): (loss, params, grads)
    ("float64", "sgd"): (1e-9, 1e-11, 1e-12),
    ("float64", "adam"): (1e-4, 1e-6, 1e-12),
    ("float32", "sgd"): (1e-3, 1e-3, 1e-5),
    ("float32", "adam"): (1e-3, 1e-3, 1e-5),
}


def horizon(impl, dtype: str) -> int:
    """Steps compared against a reference: the whole cell in float64, at most 50 in float32."""
    return impl.config.steps if dtype == "float64" else min(impl.config.steps, FLOAT32_HORIZON)


def assert_matches_oracle(impl, x, y, cfg):
    """impl's step-0 grads, losses and final params against the float64 oracle's, same start."""
    __tracebackhide__ = True
    from tests import reference

    got = impl.run(x, y, cfg)
    oracle = reference.train(x.astype("float64"), y.astype("float64"),
                             cfg.replace(dtype="float64", init=to64(cfg.init)))
    loss_bound, params_bound, grads_bound = ORACLE_BOUNDS[cfg.dtype, cfg.optimizer]
    if cfg.steps:
        assert_params_close("step-0 grad", got["grads"], oracle["grads"], grads_bound, impl, cfg)
    assert_losses_close(got["losses"], oracle["losses"], loss_bound, LOSS_FLOOR, impl, cfg)
    assert_params_close(f"after {cfg.steps} steps", got["params"], oracle["params"], params_bound, impl, cfg)
