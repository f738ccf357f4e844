"""ReLU inputs at a kink: a ReLU input that sits within rounding of 0 may go either way in a
correct implementation, which then follows another path. at_kinks() finds the path a run took."""
import numpy as np

from conformance.core.envelope import FLOOR_ULPS, MARGIN, U, Reference, findings, oracle_run, rounding, to64

KINK_RUNS = 6  # oracle runs one disagreement may spend looking for a kink that explains it
KINK_DEPTH = 3  # kinks in a row
KINK_LOOKBACK = 2  # a side taken at step s shows in the loss of step s + 1: look that far back


def at_kinks(got, ref: Reference, x, y, depth: int = 0):
    """A reference that explains got by ReLU inputs that sat within rounding of 0: where one did
    (in the oracle, |input| within MARGIN times what rounding moved it in a shadow), a correct
    implementation may take either side, and from there on follows another path. Looks at the
    steps just before the first disagreement, tries the other side there (the kinks of a step all
    together, then each alone), and returns the reference of the first such path got follows
    (None if none does)."""
    found = findings(got, ref)
    if not found or depth >= KINK_DEPTH or found[0].kind in ("length", "loss0", "precision"):
        return None
    first = found[0]
    last = 0 if first.kind == "grads" else min(first.step, ref.cfg.steps) - 1
    if last < 0:
        return None
    cfg = ref.cfg
    x64, y64 = (np.asarray(a).astype(cfg.dtype).astype(np.float64) for a in (x, y))
    steps = range(max(0, last - KINK_LOOKBACK + 1), last + 1)
    near = _near_kinks(x64, y64, cfg, ref, steps)
    full = cfg.replace(init=to64(cfg.init), dtype="float64")
    runs = 0
    for step in sorted(near, reverse=True):
        options = [near[step]] + ([] if _count(near[step]) == 1 else _singles(near[step])[:3])
        for flip in options:
            if runs >= KINK_RUNS:
                return None
            runs += 1
            flips = {**ref.flips, step: flip}
            horizon = min(cfg.steps, max(first.step, last + 1) + 3)  # enough to see whether it explains the first one
            with np.errstate(over="ignore", invalid="ignore"):
                short = oracle_run(x64, y64, _first(full, horizon), ref.unused, flips=flips)
            partial = Reference(_first(cfg, horizon), short, _cut(ref.spread, horizon), ref.unused, flips)
            if any(f.kind != "params" for f in findings(_cut_result(got, horizon), partial)):
                continue
            with np.errstate(over="ignore", invalid="ignore"):
                branch = Reference(cfg, oracle_run(x64, y64, full, ref.unused, flips=flips), ref.spread, ref.unused, flips)
            rest = findings(got, branch)
            if not rest:
                return branch
            if rest[0].step > first.step:
                return at_kinks(got, branch, x, y, depth + 1)
    return None


def _first(cfg, steps: int):
    """cfg for the first `steps` steps of its run (depths, when given, cut to match)."""
    return cfg.replace(steps=steps, depths=None if cfg.depths is None else tuple(cfg.depths)[:steps])


def _cut(spread, steps):
    return {"losses": spread["losses"][:steps], "grads": spread["grads"], "params": spread["params"]}


def _cut_result(got, steps):
    return {"losses": np.asarray(got["losses"], dtype=np.float64)[:steps], "grads": got.get("grads"),
            "params": got.get("params")}


def _near_kinks(x64, y64, cfg, ref, steps) -> dict:
    """{step: {ReLU index: boolean array}}: at the given steps, the ReLU inputs within rounding reach of 0."""
    wanted = set(steps)
    base = _first(cfg.replace(init=to64(cfg.init), dtype="float64"), max(wanted) + 1)
    pres_ref, pres_shadow = {s: None for s in wanted}, {s: None for s in wanted}
    oracle_run(x64, y64, base, ref.unused, flips=ref.flips, pres=pres_ref)
    dtype = np.dtype(cfg.dtype)
    jitter = rounding(np.random.default_rng([3, 2027]), dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        oracle_run(x64.astype(dtype), y64.astype(dtype), base.replace(init={k: v.astype(dtype) for k, v in base.init.items()},
                                                                 dtype=cfg.dtype),
             ref.unused, jitter, True, flips=ref.flips, pres=pres_shadow)
    u = U[cfg.dtype]
    out = {}
    for step in wanted:
        masks = {}
        for i, (z, w) in enumerate(zip(pres_ref[step], pres_shadow[step])):
            reach = MARGIN * np.abs(z - w.astype(np.float64)) + FLOOR_ULPS * u * np.abs(z).max()
            near = np.abs(z) <= reach
            if near.any():
                masks[i] = near
        if masks:
            out[step] = masks
    return out


def _count(masks) -> int:
    return int(sum(m.sum() for m in masks.values()))


def _singles(masks) -> list:
    out = []
    for i, m in masks.items():
        for flat in np.flatnonzero(m):
            one = np.zeros_like(m)
            one.flat[flat] = True
            out.append({i: one})
    return out
