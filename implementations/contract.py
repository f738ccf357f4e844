"""The contract between the conformance suite and every implementation.

An implementation is a module with ``train(x, y, cfg) -> result`` and, optionally,
``CONFIG`` (the tutorial cell it reproduces) and ``TAGS``. This file holds the types of
that contract (``Config``, ``Result``), the canonical parameter layout, and the two
chores every variant shares and that are not the lesson: ``check`` (validate the input
before any work) and ``start`` (the canonical starting parameters). A plug-in may use
them, but never has to: the suite hands it a ``Config`` and accepts any mapping back.
"""
import math
import re
from dataclasses import dataclass, fields, replace
from typing import Mapping, Optional, Sequence

import numpy as np

CHOICES = {
    "data": ("normal", "uniform"),
    "model": ("two_layer", "dynamic"),
    "loss": ("sum", "mean"),
    "optimizer": ("sgd", "adam"),
    "dtype": ("float32", "float64"),
}
STRUCTURAL = ("model", "bias", "loss", "optimizer")
RESULT_KEYS = ("losses", "init", "params", "grads")
DEVICE = re.compile(r"cpu|cuda(:\d+)?")


@dataclass(frozen=True, eq=False)
class Config:
    """One run's settings; the defaults are the NumPy warm-up cell."""

    batch: int = 64
    d_in: int = 1000
    hidden: int = 100
    d_out: int = 10
    data: str = "normal"
    model: str = "two_layer"
    bias: bool = False
    loss: str = "sum"
    optimizer: str = "sgd"
    lr: float = 1e-6
    steps: int = 500
    seed: int = 0
    dtype: str = "float32"
    device: str = "cpu"
    init: Optional[Mapping[str, np.ndarray]] = None
    depths: Optional[Sequence[int]] = None
    max_depth: int = 3

    def __post_init__(self):
        if self.init is not None and isinstance(self.init, Mapping):
            # a plain dict of its own: what a plug-in does with a mapping of arrays works on it
            # (copy.deepcopy, pickling, jax/optax/torch pytrees, tf.nest, isinstance(init, dict));
            # a read-only MappingProxyType broke all of these. Writing into it is the plug-in's
            # bug, and the suite says so (conformance/core/compare.py, assert_unchanged).
            object.__setattr__(self, "init", dict(self.init))
        if self.depths is not None and not isinstance(self.depths, (str, bytes, tuple, list, np.ndarray)):
            try:  # a generator or another iterable, read once; a tuple, list or array is kept as given
                object.__setattr__(self, "depths", tuple(self.depths))
            except TypeError:
                pass
        validate(self)

    def replace(self, **changes) -> "Config":
        """A copy with some fields changed (validated like the original)."""
        return replace(self, **changes)

    @classmethod
    def of(cls, spec=None) -> "Config":
        """A Config from an implementation's CONFIG: None, a Config, or a mapping of fields."""
        if spec is None or isinstance(spec, Config):
            return spec or cls()
        if not isinstance(spec, Mapping):
            raise TypeError(f"CONFIG must be a Config or a mapping of fields, got {type(spec).__name__}")
        unknown = sorted(set(spec) - set(FIELDS))
        if unknown:
            raise ValueError(f"CONFIG names unknown field(s) {unknown}; known: {list(FIELDS)}")
        return cls(**spec)

    @classmethod
    def unchecked(cls, **changes) -> "Config":
        """A Config that skips validation: how the suite hands implementations bad settings."""
        cfg = object.__new__(cls)
        for f in fields(cls):
            object.__setattr__(cfg, f.name, changes.pop(f.name, f.default))
        if changes:
            raise TypeError(f"unknown Config field(s) {sorted(changes)}")
        return cfg

    def asdict(self) -> dict:
        return {f: getattr(self, f) for f in FIELDS}


FIELDS = tuple(f.name for f in fields(Config))


@dataclass(frozen=True, eq=False)
class Result:
    """What ``train`` returns (any mapping with these keys is accepted as well)."""

    losses: np.ndarray
    init: Mapping[str, np.ndarray]
    params: Mapping[str, np.ndarray]
    grads: Optional[Mapping[str, np.ndarray]] = None
    depths: Optional[np.ndarray] = None

    def keys(self):
        return [k for k in ("losses", "init", "params", "grads", "depths") if getattr(self, k) is not None]

    def __getitem__(self, key):
        return getattr(self, key)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def validate(cfg) -> None:
    """Raise ValueError/TypeError naming the first field of ``cfg`` that is impossible."""
    for name in ("batch", "d_in", "hidden", "d_out"):
        v = getattr(cfg, name)
        if not _is_int(v) or v < 1:
            raise ValueError(f"cfg.{name} must be a positive integer, got {v!r}")
    for name, allowed in CHOICES.items():
        v = getattr(cfg, name)
        if v not in allowed:
            raise ValueError(f"unknown cfg.{name} {v!r}; expected one of {allowed}")
    if not isinstance(cfg.bias, (bool, np.bool_)):
        raise TypeError(f"cfg.bias must be True or False, got {cfg.bias!r}")
    lr = cfg.lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"cfg.lr must be a positive finite number, got {lr!r}")
    for name in ("steps", "seed", "max_depth"):
        v = getattr(cfg, name)
        if not _is_int(v) or v < 0:
            raise ValueError(f"cfg.{name} must be an integer >= 0, got {v!r}")
    if not isinstance(cfg.device, str) or not DEVICE.fullmatch(cfg.device):
        raise ValueError(f"unknown cfg.device {cfg.device!r}; expected 'cpu', 'cuda' or 'cuda:N'")
    if cfg.init is not None and not isinstance(cfg.init, Mapping):
        raise TypeError(f"cfg.init must be None or a mapping of parameter arrays, got {type(cfg.init).__name__}")
    if cfg.depths is not None:
        d = cfg.depths
        if isinstance(d, np.ndarray) and d.ndim != 1:
            raise TypeError(f"cfg.depths must be a 1-D sequence of integers, got an array of shape {d.shape}")
        if isinstance(d, (str, bytes)) or not all(_is_int(k) for k in d):
            raise TypeError(f"cfg.depths must be None or a sequence of integers, got {d!r}")
        if len(d) != cfg.steps:
            raise ValueError(f"cfg.depths has {len(d)} entries but cfg.steps is {cfg.steps}")
        bad = [k for k in d if not 0 <= k <= cfg.max_depth]
        if bad:
            raise ValueError(f"cfg.depths must lie in 0..max_depth={cfg.max_depth}, got {bad[0]}")


def param_shapes(model: str, bias: bool, d_in: int, hidden: int, d_out: int) -> dict:
    """Canonical parameter names and shapes, in the tutorial's NumPy layout (inputs @ weights)."""
    if model == "two_layer":
        layers = {"1": (d_in, hidden), "2": (hidden, d_out)}
        names = {"1": ("w1", "b1"), "2": ("w2", "b2")}
    else:
        layers = {"in": (d_in, hidden), "mid": (hidden, hidden), "out": (hidden, d_out)}
        names = {k: (f"w_{k}", f"b_{k}") for k in layers}
    shapes = {names[k][0]: s for k, s in layers.items()}
    if bias:
        shapes.update({names[k][1]: (s[1],) for k, s in layers.items()})
    return shapes


def _check_array(name: str, a, ndim: int) -> None:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape} (rank {a.ndim})")
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must hold floating point numbers, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or Inf")


def check(x, y, cfg, *, model=("two_layer",), bias=(False,), loss=("sum",), optimizer=("sgd",),
          devices=("cpu",)) -> dict:
    """Validate one ``train`` call before any work; return the canonical shapes.

    The keyword arguments say which structural settings and devices the caller implements;
    anything else raises NotImplementedError (structure) or ValueError (device) naming it.
    """
    _check_array("x", x, 2)
    _check_array("y", y, 2)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y disagree on N: x has {x.shape[0]} rows, y has {y.shape[0]}")
    validate(cfg)
    supported = {"model": model, "bias": bias, "loss": loss, "optimizer": optimizer}
    for name, allowed in supported.items():
        if getattr(cfg, name) not in allowed:
            raise NotImplementedError(f"cfg.{name}={getattr(cfg, name)!r} is not implemented here (only {allowed})")
    if cfg.device not in devices:
        raise ValueError(f"cfg.device {cfg.device!r} is not available here (available: {list(devices)})")
    shapes = param_shapes(cfg.model, cfg.bias, x.shape[1], cfg.hidden, y.shape[1])
    if cfg.init is not None:
        missing, extra = set(shapes) - set(cfg.init), set(cfg.init) - set(shapes)
        if missing or extra:
            raise ValueError(f"cfg.init must have keys {sorted(shapes)}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for name, shape in shapes.items():
            a = cfg.init[name]
            _check_array(f"cfg.init[{name!r}]", a, len(shape))
            if a.shape != shape:
                raise ValueError(f"cfg.init[{name!r}] must have shape {shape}, got {a.shape}")
    return shapes


def start(cfg, shapes: dict, scheme: str = "randn") -> dict:
    """The canonical starting parameters as fresh arrays of ``cfg.dtype``.

    ``cfg.init`` when given; otherwise drawn from ``cfg.seed`` (never the global RNG):
    ``randn``, standard normal, as in the warm-up cells; ``linear``, nn.Linear's default,
    uniform in +-1/sqrt(fan_in) for weights and biases.
    """
    if cfg.init is not None:
        return {k: np.array(cfg.init[k], dtype=cfg.dtype, order="C") for k in shapes}
    rng = np.random.default_rng(cfg.seed)
    params = {}
    for name, shape in shapes.items():
        if scheme == "randn":
            params[name] = rng.standard_normal(shape)
        else:
            fan_in = shapes["w" + name[1:]][0]
            params[name] = rng.uniform(-1, 1, shape) / math.sqrt(fan_in)
    return {k: v.astype(cfg.dtype) for k, v in params.items()}


def draw_depths(cfg) -> np.ndarray:
    """Dynamic model: one depth per step, ``cfg.depths`` or uniform on 0..max_depth from ``cfg.seed``."""
    if cfg.depths is not None:
        return np.array(cfg.depths, dtype=np.int64)
    rng = np.random.default_rng([cfg.seed, 1])  # a stream apart from the one ``start`` uses
    return rng.integers(0, cfg.max_depth + 1, size=cfg.steps)
