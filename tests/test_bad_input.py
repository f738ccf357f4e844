"""Bad input: a ValueError or TypeError that names the problem, before any work, inputs untouched."""
import re

import numpy as np
import pytest

from implementations.contract import Config
from conformance.core.compare import assert_unchanged, fail, inputs_copy
from conformance.core.start import dynamic_changes, setup


def first(cfg):
    return next(iter(cfg.init))


def input_weight(cfg):
    """The init key whose rows are D_in (in whatever order the module returned its init)."""
    return "w1" if "w1" in cfg.init else "w_in"


def with_nan(a, value=np.nan):
    a = a.copy()
    a.flat[a.size // 2] = value
    return a


def init_with(cfg, **arrays):
    return dict(cfg.init, **arrays)


# How a message may name x and y: by name, or as the inputs and the targets.
X, Y = r"\bx\b|\binputs?\b", r"\by\b|\btargets?\b|\blabels?\b"

# id: (make the bad (x, y, cfg fields) from good ones, a pattern the message must match). The
# contract: ValueError for a bad value, TypeError for a bad type; a list for x is a bad type, and
# either is accepted where the two meet (a wrong rank, a fractional step count).
TYPE_CASES = {"x_not_an_array"}
EITHER = {"x_rank_1", "x_rank_3", "y_rank_1", "fractional_steps", "float_steps", "bool_steps", "string_lr", "bool_lr"}
CASES = {
    "x_rank_1": (lambda x, y, c: (x[0], y, {}), X),
    "x_rank_3": (lambda x, y, c: (x[None], y, {}), X),
    "y_rank_1": (lambda x, y, c: (x, y[:, 0], {}), Y),
    "x_not_an_array": (lambda x, y, c: (x.tolist(), y, {}), X),
    "mismatched_N": (lambda x, y, c: (x, y[:-1], {}), rf"\bN\b|\brows?\b|\bsamples?\b|\bexamples?\b|\bbatch\b|"
                                                    rf"({X}).*({Y})|({Y}).*({X})"),
    "init_missing_key": (lambda x, y, c: (x, y, {"init": {k: v for k, v in c.init.items() if k != first(c)}}),
                         "{key}"),
    "init_extra_key": (lambda x, y, c: (x, y, {"init": init_with(c, w3=c.init[first(c)])}), r"\bw3\b"),
    "init_wrong_shape": (lambda x, y, c: (x, y, {"init": init_with(c, **{first(c): c.init[first(c)][:-1]})}),
                         "{key}"),
    "init_wrong_D_in": (lambda x, y, c: (x[:, :-1], y, {}), r"{input_weight}|" + X),
    "negative_steps": (lambda x, y, c: (x, y, {"steps": -1, "depths": None}), r"steps"),
    "fractional_steps": (lambda x, y, c: (x, y, {"steps": 2.5, "depths": None}), r"steps"),
    "float_steps": (lambda x, y, c: (x, y, {"steps": 3.0, "depths": None}), r"steps"),
    "bool_steps": (lambda x, y, c: (x, y, {"steps": True, "depths": None}), r"steps"),
    "string_lr": (lambda x, y, c: (x, y, {"lr": "0.01"}), r"\blr\b|learning.rate"),
    "bool_lr": (lambda x, y, c: (x, y, {"lr": True}), r"\blr\b|learning.rate"),
    "zero_lr": (lambda x, y, c: (x, y, {"lr": 0.0}), r"\blr\b|learning.rate"),
    "negative_lr": (lambda x, y, c: (x, y, {"lr": -1e-3}), r"\blr\b|learning.rate"),
    "nan_lr": (lambda x, y, c: (x, y, {"lr": float("nan")}), r"\blr\b|learning.rate"),
    "infinite_lr": (lambda x, y, c: (x, y, {"lr": float("inf")}), r"\blr\b|learning.rate"),
    "unknown_dtype": (lambda x, y, c: (x, y, {"dtype": "float16"}), r"dtype|float16"),
    "unknown_device": (lambda x, y, c: (x, y, {"device": "tpu"}), r"device|\btpu\b"),
    "unavailable_device": (lambda x, y, c: (x, y, {"device": "cuda:99"}), r"device|cuda"),
}


# Every non-finite value in every array the caller passes: the message names the value (or says
# "finite"); NaN and -Inf are told apart from Inf by what a check that looks for one only lets by.
NON_FINITE = {"nan": (np.nan, r"(?i)\bnan\b|finite"), "+inf": (np.inf, r"(?i)inf|finite"),
              "-inf": (-np.inf, r"(?i)inf|finite")}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused(impl, case):
    x, y, good = setup(impl, 0, "float64", steps=3)
    make, pattern = CASES[case]
    bx, by, changes = make(x, y, good)
    pattern = pattern.format(key=re.escape(first(good)), input_weight=input_weight(good))
    refused(impl, case, bx, by, Config.unchecked(**dict(good.asdict(), **changes)), pattern, good)


@pytest.mark.parametrize("where", ["x", "y", "init"])
def test_non_finite_is_refused(impl, where):
    """NaN, +Inf and -Inf in x, in y, and in each init array, each refused with a ValueError naming it."""
    x, y, good = setup(impl, 0, "float64", steps=3)
    for name, (value, pattern) in NON_FINITE.items():
        if where == "init":
            for key in good.init:
                cfg = Config.unchecked(**dict(good.asdict(), init=init_with(good, **{key: with_nan(good.init[key], value)})))
                refused(impl, f"cfg.init[{key!r}] holding {name}", x, y, cfg, pattern, good)
        else:
            bx, by = (with_nan(x, value), y) if where == "x" else (x, with_nan(y, value))
            refused(impl, f"{where} holding {name}", bx, by, good, pattern, good)


def refused(impl, case, bx, by, cfg, pattern, good):
    """The call must raise ValueError or TypeError (as the contract says for case) whose message matches
    pattern, and leave its inputs unchanged."""
    __tracebackhide__ = True
    before = inputs_copy(bx, by, cfg)
    want = (ValueError, TypeError) if case in EITHER else TypeError if case in TYPE_CASES else ValueError
    try:
        impl.run(bx, by, cfg)
    except (ValueError, TypeError) as e:
        if not isinstance(e, want):
            kind = "type" if want is TypeError else "value"
            fail(f"{case}: raised {type(e).__name__} ({e}), but a bad {kind} raises {want.__name__} "
                 "(the contract: ValueError for a bad value, TypeError for a bad type)", impl, good)
        if not re.search(pattern, str(e)):
            fail(f"{case}: the error should name the problem (match {pattern!r}), it says: "
                 f"{type(e).__name__}: {e}", impl, good)
    except Exception as e:  # noqa: BLE001 - any other exception is the wrong one
        fail(f"{case}: raised {type(e).__name__} ({e}), but should raise ValueError or TypeError "
             "from its own check before any work", impl, good)
    else:
        fail(f"{case}: no error raised", impl, good)
    assert_unchanged(before, bx, by, cfg, impl)


@pytest.mark.dynamic_only
def test_bad_depths_are_refused(impl):
    x, y, good = setup(impl, 0, "float64", steps=3, **dynamic_changes(impl))
    for depths in (good.depths[:-1], (0, 1, good.max_depth + 1), (0, -1, 1)):
        try:
            impl.run(x, y, Config.unchecked(**dict(good.asdict(), depths=depths)))
        except (ValueError, TypeError) as e:
            if "depth" not in str(e):
                fail(f"depths={depths}: the error should name depths, it says: {e}", impl, good)
        else:
            fail(f"depths={depths} (steps=3, max_depth={good.max_depth}): no error raised", impl, good)
