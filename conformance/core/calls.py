"""The domain family's runner: an Example (conformance/core/strategies.py) made into real calls of an
implementation, one after another in one process, each checked in full against the contract and
the oracle; and failures stated so that they can be replayed exactly.

Per call: the result's layout (keys, shapes, every array in cfg.dtype), init equal to cfg.init
when given (and to the init the same seed drew before, when drawn), depths as given or within
0..max_depth, the caller's x, y and cfg untouched, and the trajectory (loss at step 0, step-0
gradients, every loss, final parameters) within the bounds the oracle derives for that call
(conformance/core/envelope.py). After the last call, every earlier result must still hold what it held
when it was returned.
"""
import shlex

import numpy as np
import pytest
from hypothesis.errors import UnsatisfiedAssumption

from conformance import ROOT, SUITE
from conformance.data import describe, laid_out, make_data
from conformance.impl import structure_id
from conformance.report import command
from conformance.replies import one_line_error
from implementations.contract import Config, param_shapes
from conformance.core import oracle
from conformance.core.compare import (assert_layout, assert_unchanged, changed_since, diagnosed, explain,
                           inputs_copy, reference_for, result_copy)
from conformance.core.envelope import findings
from conformance.core.start import drawn_depths, own_init

OTHER = {"float32": "float64", "float64": "float32"}
UNSTABLE = 1e2  # the oracle's loss growing past this many times its start: outside the stable range


def final() -> bool:
    """Whether this is the run whose failure is reported: outside hypothesis, or hypothesis's last
    replay of the shrunk example (diagnosis costs too much to run on every example it tries)."""
    from hypothesis.control import _current_build_context

    context = _current_build_context.value
    return context is None or getattr(context, "is_final", True)


class Unstable(UnsatisfiedAssumption):
    """The drawn learning rate is outside the range where the oracle trains stably: not a valid example."""


def build(impl, example, call, claims):
    """(x, y, cfg, what) for one call: cfg.lr still a fraction (see with_lr); what says how x, y and
    init were given, for the failure message."""
    n, d_in, h, d_out = example.shape
    structure = claims[call.structure % len(claims)]
    sizes = {"arrays": (n, d_in, d_out), "cell": (impl.config.batch, impl.config.d_in, impl.config.d_out),
             "larger": (n + 2, d_in + 1, d_out + 3), "smaller": (max(n // 2, 1), max(d_in // 2, 1), max(d_out // 2, 1))
             }[call.cfg_sizes]
    cfg = impl.config.replace(**structure, batch=sizes[0], d_in=sizes[1], d_out=sizes[2], hidden=h, dtype=call.dtype,
                              data=call.data, seed=call.seed, steps=call.steps, max_depth=call.max_depth, init=None,
                              depths=None)
    x, y = make_data(cfg, example.data_seed, shape=(n, d_in, d_out), dtype="float64")
    x = laid_out(x.astype(OTHER[call.dtype] if call.x_other_precision else call.dtype), call.x_layout,
                 call.x_readonly)
    y = laid_out(y.astype(OTHER[call.dtype] if call.y_other_precision else call.dtype), call.y_layout,
                 call.y_readonly)
    what = {"init": "drawn by the implementation from cfg.seed", "depths": "drawn by the implementation"}
    if call.init_seed is not None:
        rng = np.random.default_rng([call.init_seed, 5])
        shapes = param_shapes(cfg.model, cfg.bias, d_in, h, d_out)
        init = {}
        for name, shape in shapes.items():
            fan_in = shapes["w" + name[1:]][0]
            a = rng.standard_normal(shape) if call.init_scale == "randn" else rng.uniform(-1, 1, shape) / np.sqrt(fan_in)
            init[name] = laid_out(a.astype(call.dtype), call.init_layout)
        cfg = cfg.replace(init=init)
        what["init"] = f"given by the suite ({call.init_scale}, seed {call.init_seed}, {call.init_layout} layout)"
    if cfg.model == "dynamic" and call.depth_seed is not None:
        cfg = cfg.replace(depths=drawn_depths(call.depth_seed, call.steps, call.max_depth))
        what["depths"] = f"given by the suite (seed {call.depth_seed})"
    return x, y, cfg, what


def with_lr(impl, x, y, cfg, fraction):
    """cfg with its learning rate: the fraction of the largest the oracle trains stably with,
    from the start this call will have (for a drawn init, a 0-step call tells which)."""
    start = cfg.init if cfg.init is not None else own_init(impl, cfg, x, y)
    x64, y64 = (np.asarray(a).astype(cfg.dtype).astype(np.float64) for a in (x, y))
    depths = sorted(set(() if cfg.depths is None else cfg.depths)) or (
        range(cfg.max_depth + 1) if cfg.model == "dynamic" else (0,))
    try:
        lr = oracle.stable_lr(fraction, x64, y64, cfg, start, depths)
    except (ValueError, KeyError, TypeError):  # an init the oracle cannot use: the call itself will say so
        lr = 1e-3
    return cfg.replace(lr=lr), start


INT_FIELDS = ("batch", "d_in", "hidden", "d_out", "steps", "seed", "max_depth")
INTS = {"int": int, "int64": np.int64, "int32": np.int32}
LRS = {"float": float, "float32": np.float32, "float64": np.float64, "int": int}
ALLOWED = {"lr": "any real number: an int, a float, np.float32 or np.float64",
           "depths": "a tuple, a list or a 1-D integer array",
           **{k: "an int or a NumPy integer" for k in INT_FIELDS}}


def in_forms(cfg: Config, call) -> Config:
    """cfg with its numbers in the call's forms. An int lr where the drawn one is 1 or more, or on a
    call of at most one step (lr 1 then: one update stays finite; the drawn learning rates of this
    problem's scales are below 1); otherwise a float."""
    ints = INTS[call.int_form]
    lr_form = call.lr_form
    if lr_form == "int" and cfg.lr < 1:
        cfg, lr_form = (cfg.replace(lr=1.0), "int") if cfg.steps <= 1 else (cfg, "float")
    depths = cfg.depths
    if depths is not None:
        depths = {"tuple": lambda d: tuple(ints(k) for k in d), "list": lambda d: [ints(k) for k in d],
                  "array": lambda d: np.array(d, dtype=np.int64 if ints is int else ints)}[call.depths_form](depths)
    return Config(**dict(cfg.asdict(), lr=LRS[lr_form](cfg.lr), depths=depths,
                         **{k: ints(getattr(cfg, k)) for k in INT_FIELDS}))


def plain(cfg: Config, fields=None) -> Config:
    """cfg with the named fields (all by default) as plain Python numbers and a tuple of depths."""
    fields = set(ALLOWED) if fields is None else set(fields)
    changes = {k: int(getattr(cfg, k)) for k in INT_FIELDS if k in fields}
    if "lr" in fields:
        changes["lr"] = float(cfg.lr)
    if "depths" in fields and cfg.depths is not None:
        changes["depths"] = tuple(int(d) for d in cfg.depths)
    return Config(**dict(cfg.asdict(), **changes))


def unplain(cfg: Config) -> list:
    """The fields of cfg that are not in their plain form (a Python float lr, int, tuple depths)."""
    out = [k for k in INT_FIELDS if type(getattr(cfg, k)) is not int]
    out += ["lr"] if type(cfg.lr) is not float else []
    out += ["depths"] if cfg.depths is not None and type(cfg.depths) is not tuple else []
    return out


def literal(cfg: Config, what: dict) -> str:
    """cfg as a Config(...) literal, with init and depths said in words when they are arrays."""
    parts = []
    for name, value in cfg.asdict().items():
        if name == "init":
            value = "None" if value is None else f"<{what['init']}>"
        elif name == "depths" and value is not None:
            value = f"<{len(value)} depths {what['depths']}, as a {type(value).__name__}>"
        else:
            value = repr(value)
        parts.append(f"{name}={value}")
    return "Config(" + ", ".join(parts) + ")"


def check_example(impl, example, replay_command):
    """Run every call of example on impl, checking each; fail with the call, its inputs and the
    command that replays exactly this example."""
    __tracebackhide__ = True
    claims = impl.claims()
    kept = []  # (call number, result, its copy)
    for number, call in enumerate(example.calls, 1):
        x, y, cfg, what = build(impl, example, call, claims)

        given = cfg

        def failed(message):
            __tracebackhide__ = True
            # tagged on its first line: the replay line ends with the command, to paste as it is
            pytest.fail(f"{message} [{impl.name}, {structure_id(cfg.asdict())}, {cfg.dtype}]\n  in call {number} of "
                        f"{len(example.calls)}: {literal(given, what)}; x {describe(x)}, y {describe(y)}, data seed "
                        f"{example.data_seed}\n  replay: {replay_command(example)}", pytrace=False)

        try:
            cfg, start = with_lr(impl, x, y, cfg, call.lr_fraction)
            given = in_forms(cfg, call)  # the call's numbers in their forms; the oracle's the same values
            cfg = plain(given)
            before = inputs_copy(x, y, given)
            got = impl.run(x, y, given)
        except Exception as e:  # noqa: BLE001 - whatever the module raises is the check's failure
            failed(one_line_error(e) + why_it_raised(impl, x, y, given))
        try:
            assert_unchanged(before, x, y, given, impl)
            assert_layout(got, x, y, cfg, impl, cfg.dtype)
        except pytest.fail.Exception as e:
            failed(str(e.msg).rsplit(" [", 1)[0])
        if cfg.init is not None and any(not np.array_equal(got["init"][k], cfg.init[k]) for k in cfg.init):
            failed("init differs from cfg.init (it should be cfg.init exactly)")
        if cfg.init is None and any(not np.array_equal(got["init"][k], start[k]) for k in start):
            failed(f"init differs from the init a 0-step call with the same cfg.seed={cfg.seed} drew")
        if cfg.model == "dynamic":
            depths = np.asarray(got["depths"])
            if depths.shape != (cfg.steps,) or (depths.size and not 0 <= depths.min() <= depths.max() <= cfg.max_depth):
                failed(f"depths should be {cfg.steps} integers in 0..max_depth={cfg.max_depth}, "
                       f"got {depths.tolist()[:12]}")
            if cfg.depths is not None and not np.array_equal(depths, cfg.depths):
                failed("depths differ from cfg.depths")
        ref = reference_for(got, x, y, cfg)
        losses = ref.run["losses"]
        if cfg.steps and not (np.isfinite(losses).all() and losses.max() <= UNSTABLE * max(losses[0], 1e-300)
                              and ref.stable):
            raise Unstable(f"the oracle does not train stably at lr={cfg.lr:g} here")
        found = findings(got, ref)
        if found:
            failed(explain(found, ref) + (diagnosed(impl, got, ref, x, y, found) if final() else ""))
        kept.append((number, got, result_copy(got)))
        for earlier, res, copy in kept[:-1]:
            changed = changed_since(res, copy)
            if changed:
                failed(f"the result of call {earlier} changed after call {number} ({', '.join(changed[:4])}): "
                       "returned arrays must belong to the caller")


def why_it_raised(impl, x, y, cfg) -> str:
    """A hint for a call that raised: where cfg's sizes differ from the arrays', whether the same
    call with cfg's sizes the arrays' runs (then the module reads its sizes from cfg); where x or y
    is not a C-ordered, writable array of cfg.dtype, whether the same call with such copies runs
    (then the module does not take the layout or precision it was given); otherwise that the
    failure may depend on the calls before it (the replay runs the example alone)."""
    forms = unplain(cfg)
    if forms and _runs(impl, x, y, plain(cfg)):
        culprits = [k for k in forms if _runs(impl, x, y, plain(cfg, [k]))] or forms
        return "".join(f" (cfg.{k} is {_shown(getattr(cfg, k))}, as the contract allows ({k}: {ALLOWED[k]}), and "
                       f"the same call with cfg.{k} = {_shown(getattr(plain(cfg, [k]), k))} runs: accept every form "
                       f"the contract allows{', e.g. float(cfg.lr)' if k == 'lr' else ''})" for k in culprits[:2])
    n, d_in, d_out = x.shape[0], x.shape[1], y.shape[1]
    if (cfg.batch, cfg.d_in, cfg.d_out) != (n, d_in, d_out) and _runs(impl, x, y, cfg.replace(batch=n, d_in=d_in,
                                                                                             d_out=d_out)):
        return (f" (cfg.batch/d_in/d_out = {cfg.batch}/{cfg.d_in}/{cfg.d_out} differ from the arrays' "
                f"N/D_in/D_out = {n}/{d_in}/{d_out}, as the contract allows, and the same call with cfg's sizes "
                "the arrays' runs: read the sizes from x and y)")
    usual = {name: a.flags.c_contiguous and a.flags.writeable and a.dtype == np.dtype(cfg.dtype)
             for name, a in (("x", x), ("y", y))}
    if not all(usual.values()) and _runs(impl, np.ascontiguousarray(x, dtype=cfg.dtype),
                                         np.ascontiguousarray(y, dtype=cfg.dtype), cfg):
        odd = ", ".join(f"{name} is {describe(a)}" for name, a in (("x", x), ("y", y)) if not usual[name])
        return (f" ({odd}, as the contract allows, and the same call with x and y as C-ordered, writable "
                f"{cfg.dtype} copies runs: convert them first, e.g. np.ascontiguousarray(x, dtype=cfg.dtype))")
    return (" (if the replay below passes, this call fails only after the calls made before it in this "
            "process: state kept between calls, such as a function compiled or traced for other shapes)")


def _runs(impl, x, y, cfg) -> bool:
    """Whether the call returns (another form of a call that raised, for why_it_raised's hints)."""
    try:
        impl.run(x, y, cfg)
    except Exception:  # noqa: BLE001 - any exception: it does not return
        return False
    return True


def _shown(value) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__}"
    return repr(value)


def replay_command(impl, config):
    """example -> the command that replays exactly it, from the directory the run started in."""
    def make(example):
        return command(config, (SUITE / "test_domain.py").relative_to(ROOT), f"test_replay[{impl.name}]", impl) + \
            f" --replay={shlex.quote(example.to_json())}"

    return make
