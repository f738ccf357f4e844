"""Hypothesis strategies for the domain family: valid calls drawn over the contract's whole domain.

An Example is one shape (N, D_in, H, D_out) and a short sequence of calls at that shape, so that
calls with other learning rates, step counts, seeds and structures follow each other in one
process (a cache that bakes a value in is found). Shapes come from a small pool (compiled
implementations recompile per shape, so many settings are drawn per shape); the deep profile
draws any size. Each Call fixes everything else the contract lets vary: the structure (one of
those the implementation computes), precision, learning rate (a fraction of the largest the
oracle trains stably with, derived at run time), step count (0 to 200; a long run of
1000-2500 steps at a tiny size now and then), seed, data, init given or drawn, depths given or
drawn, max_depth 0-5, what cfg.batch/d_in/d_out say (the arrays' sizes, the cell's, larger or
smaller ones), x and y in the other precision, and their memory layouts (C, Fortran, strided,
negative strides; read-only or not); a given init in C or Fortran order or strided; and every
number in each form a caller passes it (lr a float, an int, np.float32 or np.float64; the integer
fields int or NumPy integers; depths a tuple, a list or an array). The pool's
sizes are all below the tutorial cells', so one more example (beyond_the_cell) is built per
implementation: one more than its cell in every size.

Every Example prints as JSON that `--replay` runs again exactly.
"""
import json
from dataclasses import asdict, dataclass, field, fields, replace

from hypothesis import strategies as st

from conformance.data import LAYOUTS
from conformance.core.start import DEEPEST

# (N, D_in, H, D_out): 1 itself, odd sizes, a wide and a deep-ish hidden layer, D_out of 1
POOL = ((1, 1, 1, 1), (5, 3, 4, 1), (7, 12, 5, 3), (16, 9, 24, 2), (33, 20, 11, 6))
TINY = POOL[:2]  # where a long run goes
# A given init comes in C or Fortran order or as a strided view, never with negative strides: the
# contract asks any layout of x and y only, and torch.tensor(cfg.init[k]) (the idiom) refuses
# negative strides, as every torch conversion does
INIT_LAYOUTS = ("C", "fortran", "strided")
LONG = (1000, 2500)


@dataclass(frozen=True)
class Call:
    structure: int = 0  # index into the structures the implementation computes (modulo their number; -1: the last)
    dtype: str = "float64"
    lr_fraction: float = 0.1  # of the derived stable learning rate
    steps: int = 3
    seed: int = 0
    data: str = "normal"
    init_seed: int = None  # None: the implementation draws the init from seed; else the suite gives one
    init_scale: str = "fan_in"  # "randn" or "fan_in" (uniform +-1/sqrt(fan_in)), when the suite gives it
    depth_seed: int = None  # None: the implementation draws the depths; else the suite gives them
    max_depth: int = 3
    cfg_sizes: str = "arrays"  # what cfg.batch/d_in/d_out say: "arrays" (their shapes), "cell", "larger", "smaller"
    x_layout: str = "C"
    x_readonly: bool = False
    x_other_precision: bool = False
    y_layout: str = "C"
    y_readonly: bool = False
    y_other_precision: bool = False
    init_layout: str = "C"
    lr_form: str = "float"  # cfg.lr as a Python "float", "int" (where integral), "float32" or "float64"
    int_form: str = "int"  # every integer field as an "int", "int64" or "int32"
    depths_form: str = "tuple"  # given depths as a "tuple", a "list" or an "array"


LR_FORMS = ("float", "int", "float32", "float64")
INT_FORMS = ("int", "int64", "int32")
DEPTHS_FORMS = ("tuple", "list", "array")


@dataclass(frozen=True)
class Example:
    shape: tuple = (5, 3, 4, 1)  # N, D_in, H, D_out
    data_seed: int = 0
    calls: tuple = field(default_factory=lambda: (Call(),))

    def to_json(self) -> str:
        d = asdict(self)
        d["calls"] = [{k: v for k, v in c.items() if v != getattr(Call, k)} for c in d["calls"]]
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Example":
        d = json.loads(text)
        known = {f.name for f in fields(Call)}
        calls = []
        for c in d.get("calls", [{}]):
            unknown = set(c) - known
            if unknown:
                raise ValueError(f"--replay: unknown call field(s) {sorted(unknown)}")
            calls.append(Call(**c))
        return cls(shape=tuple(d.get("shape", cls.shape)), data_seed=d.get("data_seed", 0), calls=tuple(calls))


def _layout(prefix):
    return {f"{prefix}_layout": st.sampled_from(LAYOUTS), f"{prefix}_readonly": st.booleans(),
            f"{prefix}_other_precision": st.booleans()}


@st.composite
def calls(draw, long=False):
    return Call(
        structure=draw(st.integers(0, 15)),
        dtype=draw(st.sampled_from(("float64", "float32"))),
        lr_fraction=draw(st.sampled_from((1e-3, 1e-2, 0.1, 0.3, 1.0)) | st.floats(1e-3, 1.0)),
        steps=draw(st.integers(*LONG)) if long else draw(st.integers(0, 40) | st.integers(41, 200)),
        seed=draw(st.integers(0, 2 ** 31 - 1)),
        data=draw(st.sampled_from(("normal", "uniform"))),
        init_seed=draw(st.none() | st.integers(0, 1000)),
        init_scale=draw(st.sampled_from(("fan_in", "randn"))),
        depth_seed=draw(st.none() | st.integers(0, 1000)),
        max_depth=draw(st.integers(0, DEEPEST)),
        cfg_sizes=draw(st.sampled_from(("arrays", "cell", "larger", "smaller"))),
        init_layout=draw(st.sampled_from(INIT_LAYOUTS)),
        **{k: draw(v) for prefix in ("x", "y") for k, v in _layout(prefix).items()},
        lr_form=draw(st.sampled_from(LR_FORMS)),
        int_form=draw(st.sampled_from(INT_FORMS)),
        depths_form=draw(st.sampled_from(DEPTHS_FORMS)),
    )


@st.composite
def examples(draw, free_shapes=False):
    """An Example: a shape, then two or three calls at it (one of them long, now and then). Half
    the time a call repeats the structure and precision of the call before it, so that what a
    cache keyed by them keeps (a baked-in learning rate, Adam's moments) meets a call with
    another learning rate, step count and seed."""
    long = draw(st.integers(0, 7)) == 0
    if free_shapes and not long:
        shape = tuple(draw(st.integers(1, 40)) for _ in range(4))
    else:
        shape = draw(st.sampled_from(TINY if long else POOL))
    n = draw(st.integers(2, 3))
    which = draw(st.integers(0, n - 1)) if long else -1
    data_seed = draw(st.integers(0, 1000))
    drawn = []
    for i in range(n):
        call = draw(calls(long=(i == which)))
        if drawn and draw(st.booleans()):
            call = replace(call, structure=drawn[-1].structure, dtype=drawn[-1].dtype)
        drawn.append(call)
    return Example(shape=shape, data_seed=data_seed, calls=tuple(drawn))


# Always tried first, for every implementation: a long run at a tiny size, and the awkward inputs.
LONG_RUN = Example(shape=POOL[1], data_seed=1, calls=(
    Call(structure=0, dtype="float64", lr_fraction=0.3, steps=2100, seed=1, depth_seed=1, int_form="int64",
         depths_form="array"),
    Call(structure=0, dtype="float32", lr_fraction=0.03, steps=40, seed=2, lr_form="float64", int_form="int32"),
    Call(structure=0, dtype="float32", lr_fraction=0.3, steps=25, seed=3),  # the same structure again
    Call(structure=0, dtype="float64", steps=1, seed=4, lr_form="int")))  # lr=1, an int
AWKWARD_INPUTS = Example(shape=POOL[2], data_seed=2, calls=(
    Call(structure=0, dtype="float32", lr_fraction=0.1, steps=30, seed=3, init_seed=4, cfg_sizes="cell",
         x_layout="reversed", x_readonly=True, x_other_precision=True, y_layout="fortran", y_readonly=True,
         init_layout="strided"),
    Call(structure=0, dtype="float64", lr_fraction=0.5, steps=20, seed=5, cfg_sizes="larger", x_layout="strided",
         y_layout="reversed", y_other_precision=True, lr_form="float32"),  # a float32 lr in a float64 run
    Call(structure=0, dtype="float32", lr_fraction=0.3, steps=10, seed=7, cfg_sizes="smaller", depth_seed=2,
         depths_form="list")))  # cfg below the arrays


# Always tried too: one structure twice at one shape, the second call with another learning rate,
# step count, seed and init. It is the last the implementation computes (STRUCTURES order: dynamic,
# with biases, mean loss and Adam where it computes them), so that what a cache keyed by structure and
# precision keeps (Adam's moments, a learning rate or step count baked into a compiled step) meets the
# call after it in every run, not only when the draws happen to repeat a structure. The second call
# starts from the tutorial's randn init, whose hidden inputs are large (what a clamp such as ReLU6
# gets wrong, and a drawn nn.Linear-scale init never shows). The first call gives the depths, as
# an array, so that every run gives the dynamic model its depths; the second draws its own.
REPEATED = Example(shape=POOL[3], data_seed=4, calls=(
    Call(structure=-1, dtype="float32", lr_fraction=0.3, steps=30, seed=12, depth_seed=15, depths_form="array"),
    Call(structure=-1, dtype="float32", lr_fraction=0.02, steps=17, seed=13, init_seed=14, init_scale="randn")))


def beyond_the_cell(cell, claims) -> Example:
    """One more than the implementation's own cell in every size (N, D_in, H, D_out): what a
    module that keeps only the tutorial's sizes (x[:64], the first 100 hidden units) gets wrong.
    Its cell's structure with cfg sizes the cell's (smaller than the arrays), then another
    structure it computes in the other precision, from an init the suite gives."""
    ids = [tuple(sorted(s.items())) for s in claims]
    own = tuple(sorted((k, getattr(cell, k)) for k in ("model", "bias", "loss", "optimizer")))
    first = ids.index(own) if own in ids else 0
    other = next((i for i in range(len(ids)) if i != first), first)
    return Example(shape=(cell.batch + 1, cell.d_in + 1, cell.hidden + 1, cell.d_out + 1), data_seed=3, calls=(
        Call(structure=first, dtype="float64", lr_fraction=0.3, steps=12, seed=6, cfg_sizes="cell"),
        Call(structure=other, dtype="float32", lr_fraction=0.3, steps=8, seed=7, init_seed=8, depth_seed=9)))
