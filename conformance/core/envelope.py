"""Tolerances that transfer: every bound is derived, per example, from the oracle itself.

A correct implementation does not compute the oracle's float64 numbers: it rounds in its own
precision and order. How far that legitimately moves a run depends on the sizes, the learning
rate, the optimizer, the step count and the precision, so no bound measured at one tutorial
cell transfers to the others. Instead, for each compared run, the oracle is run again from the
same start as SHADOWS shadow runs in the requested precision, each perturbed the way a legitimate
implementation is: computed in that precision (shadow 0), with every sum in another order
(shadows 1 and 2: the batch rows, input features, hidden units and outputs permuted, which
changes no number mathematically and every rounding), and from a start moved by one ulp
(shadows 2 and 3). Their distance from the float64 reference, step by step, is the spread that
rounding alone produces here; an implementation may differ from the reference by

    bound = MARGIN x spread + FLOOR_ULPS x u x |reference|        (u: the precision's unit roundoff)

per array (norm-wise) for the step-0 gradients and final parameters, and per step for the loss,
whose floor also counts the predictions it is made of (FLOOR_ULPS x u x sum 2 |y_pred - y|
(|y_pred| + |y|): near a minimum an ulp of y_pred is a large part of a small loss).
Where the dynamics amplify rounding (Adam, long float32 runs, a ReLU input that sits at a kink)
the shadows spread and the bound widens by itself; where they do not, it stays at rounding level,
so that a real bug shows from its first step.

Computed in cfg.dtype, or in more: bounds catch a run that is too far off, not one that is too
exact, so a float32 run computed in float64 with only its results rounded to float32 would pass
them. exactness() tells it apart by the final parameters: a float32 run rounds every parameter at
every update, and where the oracle's plain float32 runs end NOISY_ULPS or more ulps from the
float64 reference, so does any float32 run, entry by entry; a float64 computation ends within half
an ulp. The margins of MARGIN and PRECISION_SHARE over correct code and under the catalogue's bugs,
measured, are in docs/tolerances.md (python -m meta_tests.margins reproduces them).
"""
import time
from dataclasses import dataclass, field

import numpy as np

from conformance.core import oracle, store
from conformance.data import digest


U = {"float32": 2.0 ** -24, "float64": 2.0 ** -53}
SHADOWS = 4
MARGIN = 100.0
FLOOR_ULPS = 16.0
DECORRELATED = 1.0 / MARGIN  # relative spread of the shadows' losses past which steps are not compared
# Computed in cfg.dtype, or in more? (see exactness) Among the final parameters that the oracle's plain
# runs in cfg.dtype leave NOISY_ULPS or more ulps from the float64 reference (at least NOISY_ENTRIES of
# them), a run that ends within one ulp of it in PRECISION_SHARE of them computed in higher precision.
NOISY_ULPS = 8.0
NOISY_ENTRIES = 16
PRECISION_SHARE = 0.9


def to64(params) -> dict:
    return {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}


@dataclass
class Reference:
    """The float64 oracle's run from a start, and how far rounding spreads it, step by step."""

    cfg: object  # the compared call's cfg (its dtype, lr, steps, ...), with init and depths as run
    run: dict  # losses, grads, params of the float64 oracle
    spread: dict = field(default_factory=dict)  # losses: per step; grads/params: {name: norm}; noise: see exactness
    unused: str = "step"
    flips: dict = field(default_factory=dict)  # steps where a ReLU input at a kink took the other side

    @property
    def stable(self) -> bool:
        """Whether every shadow stayed finite: an overflow in the requested precision means the
        call is outside the range where a correct implementation can be judged."""
        return bool(np.isfinite(self.spread["losses"]).all()) and all(
            np.isfinite(v) for kind in ("params", "grads") for v in self.spread[kind].values())

    @property
    def horizon(self) -> int:
        """The steps compared: all of them, unless rounding alone has already moved a shadow's loss by
        more than 1/MARGIN of the reference's (from then on the bound would exceed the loss itself,
        and chaotic dynamics, such as Adam's late spikes, put a correct run anywhere)."""
        losses = self.run["losses"]
        if not losses.size:
            return 0
        rel = self.spread["losses"] / np.maximum(np.abs(losses), 1e-300)
        over = np.flatnonzero(~(rel <= DECORRELATED))  # NaN (a shadow overflowed) too
        return int(over[0]) if over.size else losses.size

    def bound(self, what: str, name=None):
        u = U[self.cfg.dtype]
        if what == "losses":  # the floor: a few ulps of the loss, and of the predictions it is made of
            floor = np.abs(self.run["losses"]) + self.run["sensitivity"]
            return MARGIN * self.spread["losses"] + FLOOR_ULPS * u * floor
        ref = np.linalg.norm(np.asarray(self.run[what][name], dtype=np.float64))
        return MARGIN * self.spread[what][name] + FLOOR_ULPS * u * ref


def _as_run(x, y, cfg, start: dict, depths) -> tuple:
    """(x64, y64, depths, base): the data as the implementation sees it (rounded to cfg.dtype), the
    depths as a tuple (dynamic model only), and cfg in float64 from start."""
    x64, y64 = (np.asarray(a).astype(cfg.dtype).astype(np.float64) for a in (x, y))
    depths = None if cfg.model != "dynamic" else tuple(int(d) for d in depths)
    return x64, y64, depths, cfg.replace(init=to64(start), depths=depths, dtype="float64")


def reference(x, y, cfg, start: dict, depths=None, unused: str = "step") -> Reference:
    """The reference for a call of cfg on x, y, from start (canonical arrays), at these depths.

    The data is what the implementation legitimately sees: x and y rounded to cfg.dtype."""
    x64, y64, depths, base = _as_run(x, y, cfg, start, depths)
    key = (digest(x64, y64, base), cfg.dtype, unused)
    if key not in _CACHE:
        if len(_CACHE) > 64:
            _CACHE.pop(next(iter(_CACHE)))
        as_run = cfg.replace(init=start, depths=depths)
        stored = store.load(key)
        _CACHE[key] = (Reference(as_run, *stored, unused) if stored is not None
                       else _reference(x64, y64, cfg, base, start, depths, unused, key))
    return _CACHE[key]


_CACHE = {}  # references shared by the checks (and implementations) that start alike


@np.errstate(all="ignore")
def overflow(x, y, cfg, start: dict, depths=None) -> tuple:
    """Where a run that diverges overflows: (first, last), the earliest and latest step at which
    the oracle's runs in cfg.dtype (the shadows: another summation order, a start an ulp away)
    report a non-finite loss (cfg.steps for one that stays finite)."""
    x64, y64, _, base = _as_run(x, y, cfg, start, depths)
    runs = [_shadow(k, x64, y64, cfg, base, "step") for k in range(SHADOWS)]
    firsts = [int(np.argmin(np.isfinite(r["losses"]))) if not np.isfinite(r["losses"]).all() else cfg.steps
              for r in runs]
    return min(firsts), max(firsts)


@np.errstate(over="ignore", invalid="ignore")
def _reference(x64, y64, cfg, base, start, depths, unused, key=None):
    began = time.perf_counter()
    ref = oracle_run(x64, y64, base, unused)
    # shadow 0 is the oracle in cfg.dtype: in float64 that is the reference itself
    shadows = [ref if k == 0 and cfg.dtype == "float64" else _shadow(k, x64, y64, cfg, base, unused)
               for k in range(SHADOWS)]
    spread = {"losses": np.max([np.abs(s["losses"] - ref["losses"]) for s in shadows], axis=0)
              if cfg.steps else np.zeros(0),
              "params": {k: max(np.linalg.norm(s["params"][k] - v) for s in shadows) for k, v in ref["params"].items()},
              "grads": {k: max(np.linalg.norm(s["grads"][k] - v) for s in shadows) for k, v in ref["grads"].items()}
              if cfg.steps else {}}
    if cfg.steps and cfg.dtype != "float64":  # per entry, how near a plain run in cfg.dtype ends (shadows 0, 1)
        spread["noise"] = {k: np.minimum(*(np.abs(s["params"][k] - v) for s in shadows[:2]))
                           for k, v in ref["params"].items()}
    out = Reference(cfg.replace(init=start, depths=depths), ref, spread, unused)
    if key is not None and time.perf_counter() - began > store.AFTER_S:
        store.save(key, ref, spread)
    return out


def oracle_run(x, y, cfg, unused, jitter=oracle.exact, constants_in_dtype=False, flips=None, pres=None):
    sensitivity = []
    res = oracle.train(x, y, cfg, unused=unused, jitter=jitter, constants_in_dtype=constants_in_dtype,
                       record=sensitivity, flips=flips, pres=pres)
    return {"losses": np.asarray(res.losses, dtype=np.float64), "params": to64(res.params),
            "grads": to64(res.grads) if res.grads is not None else {}, "sensitivity": np.asarray(sensitivity)}


def rounding(rng, dtype, scalar_side=1):
    """A perturbation of every operation's result by up to one unit roundoff of dtype: what another
    order of the same arithmetic (another BLAS kernel, a fused multiply-add, a scalar factor applied
    elsewhere) does to each result. A scalar (a loss, Adam's beta^t, where 1 - beta^t cancels) moves
    by two ulps, always to one side: a library's pow (JAX's is exp(t log beta)) errs by as much, and
    the same way every step; shadows 2 and 3 take one side each. For speed, each array shape cycles
    through CYCLE pre-drawn perturbations."""
    u = U[np.dtype(dtype).name]
    drawn, turn = {}, [0]

    def jitter(a):
        a = np.asarray(a)
        turn[0] += 1
        if a.ndim == 0:
            return a + 2 * scalar_side * np.spacing(a)
        noise = drawn.get(a.shape)
        if noise is None:
            noise = drawn[a.shape] = [(u * rng.uniform(-1, 1, a.shape)).astype(a.dtype) for _ in range(CYCLE)]
        return a + a * noise[turn[0] % CYCLE]

    return jitter


CYCLE = 7


def _shadow(k, x64, y64, cfg, base, unused):
    """Shadow k: the oracle in cfg.dtype; summing in another order (k = 1, 2: batch rows, inputs,
    hidden units and outputs permuted), every result moved by about an ulp and the learning rate and
    Adam's constants computed in cfg.dtype (k = 2, 3), and from a start one ulp away (k = 3).
    Returned in the canonical order, as float64."""
    rng = np.random.default_rng([k, 2027])
    dtype = np.dtype(cfg.dtype)
    start = {n: v.astype(dtype) for n, v in base.init.items()}
    if k == 3:
        start = {n: v + np.spacing(v) * rng.choice(np.array([-1, 1], dtype=dtype), v.shape) for n, v in start.items()}
    x, y = x64.astype(dtype), y64.astype(dtype)
    perms = None
    if k in (1, 2):
        n, d_in, d_out, h = x.shape[0], x.shape[1], y.shape[1], base.hidden
        perms = {"n": rng.permutation(n), "in": rng.permutation(d_in), "h": rng.permutation(h),
                 "out": rng.permutation(d_out)}
        x, y = x[perms["n"]][:, perms["in"]], y[perms["n"]][:, perms["out"]]
        start = permute(start, perms)
    jitter = rounding(rng, dtype, 1 if k == 2 else -1) if k >= 2 else oracle.exact
    run = oracle_run(x, y, base.replace(init=start, dtype=cfg.dtype), unused, jitter, constants_in_dtype=k >= 2)
    if perms is not None:
        run["params"] = permute(run["params"], perms, inverse=True)
        run["grads"] = permute(run["grads"], perms, inverse=True) if run["grads"] else {}
    return {"losses": run["losses"], "params": to64(run["params"]), "grads": to64(run["grads"])}


# which axis of each canonical array runs over which dimension
AXES = {"w1": ("in", "h"), "b1": ("h",), "w2": ("h", "out"), "b2": ("out",),
        "w_in": ("in", "h"), "b_in": ("h",), "w_mid": ("h", "h"), "b_mid": ("h",), "w_out": ("h", "out"),
        "b_out": ("out",)}


def permute(params: dict, perms: dict, inverse: bool = False) -> dict:
    """Canonical arrays with their inputs, hidden units and outputs reordered (or put back)."""
    out = {}
    for name, a in params.items():
        for axis, dim in enumerate(AXES[name]):
            p = np.argsort(perms[dim]) if inverse else perms[dim]
            a = np.take(a, p, axis=axis)
        out[name] = a
    return out


# ----------------------------------------------------------------- comparing a run with its reference


@dataclass
class Finding:
    """The first disagreement with the reference, in the order evidence is read."""

    kind: str  # "loss0", "grads", "losses", "params", "length", "precision"
    name: str  # the array, or "" for losses
    step: int
    error: float  # absolute: |loss - ref| or ||array - ref||
    bound: float
    got: object = None
    expected: object = None
    over: int = 1  # how many steps are over
    scale: float = 1.0  # |reference loss| or ||reference array||, for relative errors

    @property
    def ratio(self) -> float:
        return self.error / self.bound if self.bound > 0 else np.inf


def findings(got: dict, ref: Reference) -> list:
    """Every disagreement of got (a result) with ref, in evidence order: the loss at step 0 (the
    forward pass and the loss), the step-0 gradients (the backward pass), the losses of the later
    steps (the update), and the final parameters. Infinities and NaN in either compare as
    disagreements, without warnings of the suite's own."""
    with np.errstate(all="ignore"):
        return _findings(got, ref)


def _findings(got: dict, ref: Reference) -> list:
    cfg = ref.cfg
    losses = np.asarray(got["losses"], dtype=np.float64).ravel()
    out = []
    if losses.shape != (cfg.steps,):
        return [Finding("length", "", 0, np.inf, 0.0, losses.shape, (cfg.steps,))]
    horizon = ref.horizon
    if cfg.steps:
        err = np.abs(losses - ref.run["losses"])
        bound = ref.bound("losses")
        bad = np.flatnonzero(~(err[:horizon] <= bound[:horizon]))
        if bad.size and bad[0] == 0:
            out.append(Finding("loss0", "", 0, err[0], bound[0], losses[0], ref.run["losses"][0],
                               scale=abs(ref.run["losses"][0])))
        grads = got.get("grads") or {}
        for name, expected in ref.run["grads"].items():
            e = _norm_error(grads.get(name) if hasattr(grads, "get") else None, expected)
            b = ref.bound("grads", name)
            if not e <= b:
                out.append(Finding("grads", name, 0, e, b, scale=float(np.linalg.norm(expected))))
        later = bad[bad > 0]
        if later.size:
            t = int(later[0])
            out.append(Finding("losses", "", t, err[t], bound[t], losses[t], ref.run["losses"][t], over=later.size,
                               scale=abs(ref.run["losses"][t])))
    params = got.get("params") or {}
    for name, expected in ref.run["params"].items() if horizon == cfg.steps else ():
        e = _norm_error(params.get(name) if hasattr(params, "get") else None, expected)
        b = ref.bound("params", name)
        if not e <= b:
            out.append(Finding("params", name, cfg.steps, e, b, scale=float(np.linalg.norm(expected))))
    close = exactness(got, ref) if not out and horizon == cfg.steps else None
    if close is not None and close[0] >= PRECISION_SHARE * close[1]:
        out.append(Finding("precision", "", cfg.steps, close[0], close[1], scale=1.0))
    return out


def exactness(got: dict, ref: Reference):
    """(how many, of how many): of the final parameters that the oracle's plain runs in cfg.dtype
    (shadows 0 and 1) leave NOISY_ULPS or more of cfg.dtype's ulps from the float64 reference, how many
    got leaves within one ulp of it. None where too few are that far (float64, few or tiny steps, a
    kink taken the other way): there the precision cannot be told apart.

    A run in float32 rounds every parameter to float32 at every update; after enough updates those
    roundings add up, entry by entry, to several ulps, as the shadows' do. A run that computes in
    float64 and rounds only what it returns ends within half an ulp of the reference everywhere."""
    noise = ref.spread.get("noise")
    if not noise or ref.flips:
        return None
    dtype = np.dtype(ref.cfg.dtype)
    within = noisy = 0
    for name, want in ref.run["params"].items():
        ulp = np.spacing(np.abs(want).astype(dtype)).astype(np.float64)
        far = np.asarray(noise[name]) >= NOISY_ULPS * ulp
        err = np.abs(np.asarray(got["params"][name], dtype=np.float64) - want)
        noisy += int(far.sum())
        within += int((err[far] <= ulp[far]).sum())
    return (within, noisy) if noisy >= NOISY_ENTRIES else None


def _norm_error(actual, expected) -> float:
    if actual is None:
        return np.inf
    a = np.asarray(actual, dtype=np.float64)
    if a.shape != expected.shape:
        return np.inf
    return float(np.linalg.norm(a - expected))


def worst_ratio(got: dict, ref: Reference) -> dict:
    """How close a run comes to its bounds, with the margin taken out: per kind, the largest
    error / (spread + the floor's share), over the compared steps. Correct code must stay below
    MARGIN; meta_tests/margins.py measures it."""
    cfg, u = ref.cfg, U[ref.cfg.dtype]
    floor = FLOOR_ULPS / MARGIN * u
    out = {}
    h = ref.horizon
    if cfg.steps and h:
        err = np.abs(np.asarray(got["losses"], dtype=np.float64) - ref.run["losses"])[:h]
        scale = (ref.spread["losses"] + floor * (np.abs(ref.run["losses"]) + ref.run["sensitivity"]))[:h]
        out["losses"] = float(np.max(err / np.maximum(scale, 1e-300)))
    if cfg.steps:
        out["grads"] = max(_norm_error(got["grads"][k], v) / max(ref.spread["grads"][k] + floor * np.linalg.norm(v),
                                                                  1e-300) for k, v in ref.run["grads"].items())
    if h == cfg.steps:
        out["params"] = max(_norm_error(got["params"][k], v) / max(ref.spread["params"][k] + floor
                                                                    * np.linalg.norm(v), 1e-300)
                            for k, v in ref.run["params"].items())
    return out
