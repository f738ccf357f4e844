"""Process-wide state: what a train call, or importing an implementation, must leave as it found it.

snapshot() reads every setting the contract names, for the frameworks imported so far: default
dtypes and float precision (torch's default dtype, float32 matmul precision and autocast, JAX's
x64 mode and every other JAX flag, Keras' floatx), thread counts (torch intra/inter-op,
TensorFlow's, every BLAS/OpenMP pool through threadpoolctl), grad, inference and anomaly modes
(torch's, autograd multithreading, TensorFlow's op callbacks such as check numerics),
deterministic modes, eager mode and run-functions-eagerly, backend flags (torch.backends, TF32,
XLA jit, op determinism, the MLIR bridge, TensorFlow's NumPy behaviour, dynamo's config,
flush-to-zero), TensorFlow's seed, device and placement settings,
environment variables, warning filters, logging configuration (root and every library logger:
level, handlers, propagation), recursion limit, gc, NumPy's and torch's print options and
NumPy's error handling. diff() names what changed; restore() puts it back. Global random
generators are not settings: drawing from one is allowed, so they are judged apart (rngs()).

warm_up() runs each framework's first-use set-up (TensorFlow's environment variables at import,
torch setting TORCHINDUCTOR_CACHE_DIR when optim first loads dynamo, the warning filters and
loggers they add) before the suite takes its baseline, so that no implementation is blamed for
what its framework does once per process.
"""
import contextlib
import decimal
import gc
import importlib
import logging
import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np

# pytest and its plugins set these themselves, per test.
IGNORED_ENV = {"PYTEST_CURRENT_TEST", "PYTEST_VERSION", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID",
               "PYTEST_XDIST_WORKER_COUNT"}
MISSING = type("Unset", (), {"__repr__": lambda self: "unset"})()  # an environment variable that is not set
EXPANDED = ("jax config", "torch._dynamo.config", "torch._inductor.config")  # dicts compared key by key


@dataclass
class Change:
    """One setting that differs: its name and its raw values before and after."""

    setting: str
    before: object
    after: object

    def __str__(self):
        if self.setting == "warning filters":
            added = [f for f in self.after if f not in self.before]
            removed = [f for f in self.before if f not in self.after]
            return "warning filters: " + "; ".join(
                part for part in (f"added {added}" if added else "", f"removed {removed}" if removed else "",
                                  "reordered" if not added and not removed else "") if part)
        return f"{self.setting}: {describe(self.setting, self.before)} -> {describe(self.setting, self.after)}"


def describe(setting: str, value) -> str:
    if value is MISSING:
        text = "unset"
    elif setting.startswith("logging: logger "):
        text = _describe_logger(value)
    else:
        text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


# ----------------------------------------------------------------- the settings, per framework


def _attr(path):
    """A getter and setter for an attribute given as 'torch.backends.cudnn.benchmark', of a module
    or of an object a module holds ('torch.backends.cuda.matmul.allow_tf32': matmul is an object)."""
    owner, _, attr = path.rpartition(".")

    def get():
        return getattr(_owner(owner), attr)

    def put(v):
        setattr(_owner(owner), attr, v)

    return get, put


def _owner(name):
    """The module of that name, or the attribute of that name of its parent."""
    if name in sys.modules:
        return sys.modules[name]
    parent, _, attr = name.rpartition(".")
    if parent in sys.modules and hasattr(sys.modules[parent], attr):  # no import machinery on every read
        return getattr(sys.modules[parent], attr)
    try:
        return _import(name)
    except ImportError:
        parent, _, attr = name.rpartition(".")
        if not parent:
            raise
        return getattr(_owner(parent), attr)


def _import(name):
    __import__(name)
    return sys.modules[name]


def _ftz():
    """Whether the CPU flushes denormal results to zero (torch.set_flush_denormal sets MXCSR FTZ/DAZ)."""
    return bool(np.float32(1e-30) * np.float32(1e-10) == 0)


def _set_ftz(on):
    if "torch" in sys.modules:
        sys.modules["torch"].set_flush_denormal(bool(on))


def _python():
    ctx = decimal.getcontext()
    return {
        "python recursion limit": (sys.getrecursionlimit, sys.setrecursionlimit),
        "python thread switch interval": (sys.getswitchinterval, sys.setswitchinterval),
        "python gc enabled": (gc.isenabled, lambda v: gc.enable() if v else gc.disable()),
        "python gc thresholds": (gc.get_threshold, lambda v: gc.set_threshold(*v)),
        "python decimal context": (lambda: (decimal.getcontext().prec, decimal.getcontext().rounding),
                                   lambda v: (setattr(ctx, "prec", v[0]), setattr(ctx, "rounding", v[1]))),
        "numpy print options": (np.get_printoptions, lambda v: np.set_printoptions(**v)),
        "numpy error handling": (np.geterr, lambda v: np.seterr(**v)),
        "numpy error callback": (np.geterrcall, np.seterrcall),
        "flush denormals to zero (FTZ/DAZ)": (_ftz, _set_ftz),
    }


def _interpreter():
    """The interpreter's and the operating system's per-process state a call could leave changed."""
    import builtins
    import locale
    import resource
    import signal

    def put_path(v):
        sys.path[:] = list(v)

    def put_signals(v):
        for number, handler in v.items():
            try:
                signal.signal(number, handler)
            except (OSError, ValueError, TypeError):
                pass

    def put_limits(v):
        for number, limits in v.items():
            try:
                resource.setrlimit(number, limits)
            except (OSError, ValueError):
                pass

    def put_hooks(v):
        sys.excepthook, sys.displayhook, sys.breakpointhook, sys.unraisablehook = v[:4]
        sys.settrace(v[4])
        sys.setprofile(v[5])

    limits = [getattr(resource, n) for n in dir(resource) if n.startswith("RLIMIT_")]
    signals = [s for s in signal.Signals if s not in (signal.SIGKILL, signal.SIGSTOP)]
    return {
        "current directory": (os.getcwd, os.chdir),
        "file creation mask (umask)": (lambda: (os.umask(m := os.umask(0)), m)[1], os.umask),
        "signal handlers": (lambda: {int(s): signal.getsignal(s) for s in signals}, put_signals),
        "resource limits": (lambda: {n: resource.getrlimit(n) for n in limits}, put_limits),
        "python sys.path": (lambda: tuple(sys.path), put_path),
        "python hooks (except, display, breakpoint, unraisable, trace, profile)": (
            lambda: (sys.excepthook, sys.displayhook, sys.breakpointhook, sys.unraisablehook, sys.gettrace(),
                     sys.getprofile()), put_hooks),
        "python standard streams": (lambda: (sys.stdin, sys.stdout, sys.stderr),
                                    lambda v: (setattr(sys, "stdin", v[0]), setattr(sys, "stdout", v[1]),
                                               setattr(sys, "stderr", v[2]))),
        "locale": (lambda: locale.setlocale(locale.LC_ALL), lambda v: locale.setlocale(locale.LC_ALL, v)),
        "scheduling priority (nice)": (lambda: os.getpriority(os.PRIO_PROCESS, 0),
                                       lambda v: os.setpriority(os.PRIO_PROCESS, 0, v)),
        "cpu affinity": (lambda: frozenset(os.sched_getaffinity(0)), lambda v: os.sched_setaffinity(0, v)),
        "module attributes": (lambda: _attributes(builtins), lambda v: _put_attributes(v)),
    }


PATCHABLE = ("builtins", "numpy", "numpy.linalg", "json", "struct", "io", "conformance.wire", "conformance.state",
             "conformance.worker", "implementations.contract")  # what the worker's own answers rest on


def _attributes(builtins) -> dict:
    """{module: a copy of its namespace} for the modules the worker's answers rest on (a C-level copy:
    this is read around every call); diff() names an attribute replaced or deleted, not one added
    (a lazily imported submodule)."""
    return {name: dict(vars(sys.modules[name])) for name in PATCHABLE if name in sys.modules}


def _patched(before: dict, after: dict) -> list:
    changes = []
    for name, old in before.items():
        new = after.get(name, {})
        try:
            if old == new:
                continue
        except Exception:  # noqa: BLE001 - values whose == raises: compared one by one below
            pass
        for key, value in old.items():
            if not key.startswith("__") and new.get(key, MISSING) is not value:
                changes.append(Change(f"module attributes {name}.{key}", value, new.get(key, MISSING)))
    return changes


def _put_attributes(values: dict):
    """values: {module name: namespace} (a whole snapshot's), or {"module.attr": value} (one change's)."""
    for key, value in values.items():
        if isinstance(value, dict) and key in sys.modules:
            namespace = vars(sys.modules[key])
            for attr, v in value.items():
                if not attr.startswith("__") and namespace.get(attr, MISSING) is not v:
                    namespace[attr] = v
            continue
        name, _, attr = key.rpartition(".")
        module = sys.modules.get(name)
        if module is not None:
            if value is MISSING:
                delattr(module, attr) if hasattr(module, attr) else None
            else:
                setattr(module, attr, value)


def _torch(torch):
    out = {
        "torch default dtype": (torch.get_default_dtype, torch.set_default_dtype),
        "torch default device": (lambda: str(torch.get_default_device()), torch.set_default_device),
        "torch grad mode": (torch.is_grad_enabled, torch.set_grad_enabled),
        "torch inference mode": (torch.is_inference_mode_enabled, None),
        "torch anomaly detection": (lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
                                    lambda v: torch.autograd.set_detect_anomaly(v[0], check_nan=v[1])),
        "torch deterministic algorithms": (
            lambda: (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()),
            lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1])),
        "torch float32 matmul precision": (torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
        "torch intra-op threads": (torch.get_num_threads, torch.set_num_threads),
        "torch inter-op threads": (torch.get_num_interop_threads, torch.set_num_interop_threads),
        "torch warn always": (torch.is_warn_always_enabled, torch.set_warn_always),
        "torch autograd multithreading": (torch.autograd.is_multithreading_enabled,
                                          torch.autograd.set_multithreading_enabled),
        "torch autocast (enabled, dtype) on cpu and cuda": (
            lambda: tuple((torch.is_autocast_enabled(d), torch.get_autocast_dtype(d)) for d in AUTOCAST),
            lambda v: _set_autocast(torch, v)),
        "torch autocast cache": (torch.is_autocast_cache_enabled, torch.set_autocast_cache_enabled),
        "torch print options": (lambda: dict(vars(torch._tensor_str.PRINT_OPTS)), lambda v: torch.set_printoptions(**v)),
        "torch.jit graph executor optimize": (torch._C._get_graph_executor_optimize,
                                              torch._C._set_graph_executor_optimize),
        "torch.jit enabled": (lambda: torch.jit._state._enabled.enabled,
                              lambda v: torch.jit._state.enable() if v else torch.jit._state.disable()),
    }
    for path in ("torch.backends.cuda.matmul.allow_tf32", "torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction",
                 "torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction",
                 "torch.backends.cuda.matmul.allow_fp16_accumulation", "torch.backends.cudnn.enabled",
                 "torch.backends.cudnn.benchmark_limit", "torch.backends.mkldnn.deterministic",
                 "torch.backends.quantized.engine",
                 "torch.backends.cudnn.benchmark", "torch.backends.cudnn.deterministic", "torch.backends.cudnn.allow_tf32",
                 "torch.backends.mkldnn.enabled", "torch.backends.opt_einsum.enabled", "torch.backends.opt_einsum.strategy",
                 "torch.backends.fp32_precision", "torch.backends.cuda.matmul.fp32_precision",
                 "torch.backends.cudnn.fp32_precision", "torch.backends.mkldnn.fp32_precision"):
        try:
            get, put = _attr(path)
            get()
        except Exception:  # not in this torch build
            continue
        out[path] = (get, put)
    for name in ("linalg", "blas"):  # torch.backends.cuda.preferred_linalg_library(): read; (backend): set
        fn = getattr(torch.backends.cuda, f"preferred_{name}_library", None)
        if fn is not None:
            try:
                fn()
            except Exception:  # not in this torch build
                continue
            out[f"torch.backends.cuda.preferred_{name}_library"] = (fn, fn)
    for name in ("flash", "mem_efficient", "math", "cudnn"):
        get = getattr(torch.backends.cuda, f"{name}_sdp_enabled", None)
        put = getattr(torch.backends.cuda, f"enable_{name}_sdp", None)
        if get and put:
            out[f"torch.backends.cuda.{name}_sdp_enabled"] = (get, put)
    if hasattr(torch.backends, "mha"):
        out["torch.backends.mha fast path"] = (torch.backends.mha.get_fastpath_enabled,
                                               torch.backends.mha.set_fastpath_enabled)
    for mod in ("torch._dynamo.config", "torch._inductor.config"):
        if mod in sys.modules:
            config = sys.modules[mod]
            out[mod] = (lambda c=config: {k: _copied(v) for k, v in c.get_config_copy().items()},
                        lambda v, c=config: _set_config(c, v))
    return out


AUTOCAST = ("cpu", "cuda")  # the device types whose autocast state is read


def _set_autocast(torch, value):
    for device, (enabled, dtype) in zip(AUTOCAST, value):
        torch.set_autocast_enabled(device, enabled)
        torch.set_autocast_dtype(device, dtype)


def _copied(value):
    """A copy of a config value that a later change in place cannot reach (containers copied)."""
    return type(value)(value) if isinstance(value, (set, frozenset, list, dict, tuple)) else value


def _set_config(config, wanted: dict):
    """Put config keys back to the values wanted."""
    current = config.get_config_copy()
    for k, v in wanted.items():
        if k in current and not _same(current[k], v):
            setattr(config, k, _copied(v))


def _tensorflow(tf):
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config as tfc

    out = {
        "tensorflow eager mode": (tf.executing_eagerly, None),
        "tensorflow run functions eagerly": (tf.config.functions_run_eagerly, tf.config.run_functions_eagerly),
        "tensorflow global seed": (context.global_seed, tf.random.set_seed),
        "tensorflow intra-op threads": (tf.config.threading.get_intra_op_parallelism_threads,
                                        tf.config.threading.set_intra_op_parallelism_threads),
        "tensorflow inter-op threads": (tf.config.threading.get_inter_op_parallelism_threads,
                                        tf.config.threading.set_inter_op_parallelism_threads),
        "tensorflow soft device placement": (tf.config.get_soft_device_placement, tf.config.set_soft_device_placement),
        "tensorflow log device placement": (lambda: context.context().log_device_placement,
                                            tf.debugging.set_log_device_placement),
        "tensorflow visible devices": (lambda: tuple(d.name for d in tf.config.get_visible_devices()), None),
        "tensorflow XLA jit": (tf.config.optimizer.get_jit, tf.config.optimizer.set_jit),
        "tensorflow graph optimizer options": (tf.config.optimizer.get_experimental_options,
                                               tf.config.optimizer.set_experimental_options),
        "tensorflow device policy": (tf.config.experimental.get_device_policy, tf.config.experimental.set_device_policy),
        "tensorflow synchronous execution": (tf.config.experimental.get_synchronous_execution,
                                             tf.config.experimental.set_synchronous_execution),
        "tensorflow traceback filtering": (tf.debugging.is_traceback_filtering_enabled,
                                           lambda v: tf.debugging.enable_traceback_filtering() if v
                                           else tf.debugging.disable_traceback_filtering()),
    }
    try:
        from tensorflow.python.autograph.utils import ag_logging
        from tensorflow.python.framework import ops
        from tensorflow.python.ops.numpy_ops import np_dtypes

        out["tensorflow autograph verbosity"] = (lambda: (ag_logging.get_verbosity(), ag_logging.echo_log_to_stdout),
                                                 lambda v: ag_logging.set_verbosity(*v))
        out["tensorflow numpy behavior (type promotion, float64, float32 preferred)"] = (
            lambda: (ops.is_numpy_style_type_promotion(), np_dtypes.is_allow_float64(), np_dtypes.is_prefer_float32()),
            None)  # tf.experimental.numpy.experimental_enable_numpy_behavior() has no way back
        out["tensorflow op callbacks (check numerics, debug dumps)"] = (
            lambda: tuple(_Callback(f) for f in context.context().op_callbacks), _put_op_callbacks)
        out["tensorflow MLIR bridge"] = (lambda: context.context().enable_mlir_bridge,
                                         lambda v: setattr(context.context(), "enable_mlir_bridge", v))
    except (ImportError, AttributeError):  # another TensorFlow: these stay unwatched
        pass
    if hasattr(tfc, "tensor_float_32_execution_enabled"):
        out["tensorflow TF32 execution"] = (tfc.tensor_float_32_execution_enabled, tfc.enable_tensor_float_32_execution)
    if hasattr(tfc, "is_op_determinism_enabled"):
        out["tensorflow op determinism"] = (tfc.is_op_determinism_enabled,
                                            lambda v: tfc.enable_op_determinism() if v else tfc.disable_op_determinism())
    return out


class _Callback:
    """A TensorFlow op callback, compared by identity and shown by name."""

    def __init__(self, fn):
        self.fn = fn

    def __eq__(self, other):
        return isinstance(other, _Callback) and self.fn == other.fn

    def __repr__(self):
        return getattr(self.fn, "__qualname__", type(self.fn).__name__)


def _put_op_callbacks(wanted):
    """Back to the op callbacks wanted; tf.debugging.enable_check_numerics' own record goes with its callback."""
    from tensorflow.python.debug.lib import check_numerics_callback as cn
    from tensorflow.python.eager import context
    from tensorflow.python.framework import op_callbacks

    wanted = [w.fn for w in wanted]
    numerics = getattr(cn._state, "check_numerics_callback", None)
    if numerics is not None and numerics.callback not in wanted:
        cn.disable_check_numerics()
    for fn in list(context.context().op_callbacks):
        if fn not in wanted:
            op_callbacks.remove_op_callback(fn)
    for fn in wanted:
        if fn not in context.context().op_callbacks:
            op_callbacks.add_op_callback(fn)


def _keras(keras):
    cfg = getattr(keras, "config", None)
    if cfg is None or not hasattr(cfg, "floatx"):
        return {}
    out = {"keras floatx": (cfg.floatx, cfg.set_floatx), "keras epsilon": (cfg.epsilon, cfg.set_epsilon),
           "keras image data format": (cfg.image_data_format, cfg.set_image_data_format)}
    if hasattr(cfg, "dtype_policy"):
        out["keras dtype policy"] = (lambda: str(cfg.dtype_policy()), lambda v: cfg.set_dtype_policy(_policy_name(v)))
    for what in ("interactive_logging", "traceback_filtering", "flash_attention"):  # on/off switches
        get, on, off = (getattr(cfg, name, None) for name in (f"is_{what}_enabled", f"enable_{what}", f"disable_{what}"))
        if get and on and off:
            out[f"keras {what.replace('_', ' ')}"] = (get, lambda v, on=on, off=off: on() if v else off())
    for what in ("max_epochs", "max_steps_per_epoch"):  # caps on every model.fit in the process
        get, put = getattr(cfg, what, None), getattr(cfg, f"set_{what}", None)
        if get and put:
            out[f"keras {what.replace('_', ' ')}"] = (get, put)
    if hasattr(cfg, "backend"):
        out["keras backend"] = (cfg.backend, None)  # set_backend reloads Keras: no way back
    return out


def _policy_name(text):
    return text.split('"')[1] if '"' in text else text


def _jax(jax):
    if not isinstance(getattr(jax.config, "values", None), dict):
        return {}

    def put(wanted):
        current = jax.config.values
        for k, v in wanted.items():
            if k in current and current[k] != v:
                jax.config.update(k, v)

    return {"jax config": (lambda: dict(jax.config.values), put)}


_BLAS = []  # threadpoolctl's controllers of the BLAS/OpenMP pools loaded at the baseline


def _blas():
    out = {}
    for lib in _BLAS:
        name = f"{lib.internal_api} threads ({os.path.basename(lib.filepath)})"
        out[name] = (lib.get_num_threads, lib.set_num_threads)
    return out


def registry() -> dict:
    """{setting name: (get, set or None)} for what is imported now."""
    out = _python()
    out.update(_interpreter())
    out.update(_blas())
    if "torch" in sys.modules:
        out.update(_torch(sys.modules["torch"]))
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "executing_eagerly"):
        out.update(_tensorflow(tf))
    if "keras" in sys.modules:
        out.update(_keras(sys.modules["keras"]))
    if "jax" in sys.modules and hasattr(sys.modules["jax"], "config"):
        out.update(_jax(sys.modules["jax"]))
    return out


# ----------------------------------------------------------------- environment, warnings, logging


def _environ():
    return {k: v for k, v in os.environ.items() if k not in IGNORED_ENV}


def _filters():
    out = []
    for action, message, category, module, lineno in warnings.filters:
        out.append((action, getattr(message, "pattern", message), getattr(category, "__name__", str(category)),
                    getattr(module, "pattern", module), lineno))
    return tuple(out)


def _loggers():
    """{logger name: (level, handlers, propagate, disabled)} for root and every library logger
    (pytest's own capture handlers left out: they come and go with every test phase)."""
    out = {"root": (logging.root.level, _own(logging.root.handlers), True, logging.root.disabled)}
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            out[name] = (lg.level, _own(lg.handlers), lg.propagate, lg.disabled)
    return out


def _inert(handlers) -> bool:
    """Whether handlers do nothing: none at all, or only NullHandler, which the logging HOWTO tells a
    library to add to its own logger ("Configuring Logging for a Library") so that its messages
    never reach logging's last-resort handler. A new logger with only these configures nothing."""
    return all(isinstance(h, logging.NullHandler) for h in handlers)


def _own(handlers) -> tuple:
    return tuple(h for h in handlers if not type(h).__module__.startswith("_pytest"))


def _describe_logger(value):
    level, handlers, propagate, disabled = value
    text = f"level {logging.getLevelName(level)}, handlers [{', '.join(type(h).__name__ for h in handlers)}]"
    return text + ("" if propagate else ", propagate off") + (", disabled" if disabled else "")


# ----------------------------------------------------------------- snapshot, diff, restore


def snapshot() -> dict:
    """Every setting's current value (environment, warnings and logging included)."""
    values = {}
    for name, (get, _) in registry().items():
        try:
            values[name] = get()
        except Exception as e:  # a getter that cannot run here (no such device): note it, compare it too
            values[name] = f"<unreadable: {type(e).__name__}>"
    values["environ"] = _environ()
    values["warning filters"] = _filters()
    values["loggers"] = _loggers()
    values["logging disabled below"] = logging.root.manager.disable
    return values


def diff(before: dict, after: dict) -> list:
    """The changes from before to after, one per setting, environment variable, flag and logger."""
    changes = []
    for name in before:
        if name not in after:
            continue
        a, b = before[name], after[name]
        if a is b or _same(a, b):  # the common case, at C speed: nothing changed
            continue
        if name == "module attributes":
            changes += _patched(a, b)
        elif name in EXPANDED + ("environ", "loggers") and isinstance(a, dict) and isinstance(b, dict):
            prefix = {"environ": "environment variable", "loggers": "logging: logger"}.get(name, name)
            for key in sorted(set(a) | set(b), key=str):
                old, new = a.get(key, MISSING), b.get(key, MISSING)
                if name == "loggers" and old is MISSING and _inert(new[1]):
                    continue  # a logger first used now, with no handler but NullHandler: not configuration
                if not _same(old, new):
                    changes.append(Change(f"{prefix} {key}", old, new))
        elif not _same(a, b):
            changes.append(Change(name, a, b))
    return changes


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return repr(a) == repr(b)


def put(setting: str, value, reg=None) -> bool:
    """Set one setting (as diff() names it) to value; False where it cannot be set."""
    reg = registry() if reg is None else reg
    if setting.startswith("environment variable "):
        key = setting.removeprefix("environment variable ")
        if value is MISSING:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    elif setting.startswith("logging: logger "):
        name = setting.removeprefix("logging: logger ")
        lg = logging.root if name == "root" else logging.getLogger(name)
        level, handlers, propagate, disabled = (logging.NOTSET, (), True, False) if value is MISSING else value
        lg.setLevel(level)
        lg.handlers[:] = [h for h in lg.handlers if h not in _own(lg.handlers)] + list(handlers)  # pytest's stay
        lg.propagate, lg.disabled = propagate, disabled
    elif setting.startswith("module attributes "):
        _put_attributes({setting.removeprefix("module attributes "): value})
    elif setting == "logging disabled below":
        logging.disable(value)
    elif setting == "warning filters":
        _set_filters(value)
    else:
        prefix, _, key = setting.rpartition(" ")
        if prefix in EXPANDED:
            setting, value = prefix, {key: value}
        setter = reg.get(setting, (None, None))[1]
        if setter is None or value is MISSING:
            return False
        setter(value)
    return True


STUCK = {}  # setting -> the implementation that left it changed where restore() cannot put it back


def restore(target: dict, changes=None, culprit: str = None) -> list:
    """Set every changed setting back to its value in target; return the changes that stay. Those
    that stay (a setting without a setter, such as TensorFlow's NumPy behaviour, or one that cannot
    return to "unset") are recorded in STUCK as culprit's, so that no other implementation is
    blamed for them later."""
    changes = diff(target, snapshot()) if changes is None else changes
    if not changes:
        return []
    _put_all(changes, "before")
    left = {c.setting for c in diff(target, snapshot())}
    stay = [c for c in changes if c.setting in left]
    if culprit:
        for change in stay:
            STUCK.setdefault(change.setting, culprit)
    return stay


def stuck_by_others(name: str) -> set:
    """The settings another implementation left changed for good."""
    return {setting for setting, who in STUCK.items() if who != name}


@contextlib.contextmanager
def applied(changes):
    """Run a block with some changes made (an import's), and take them back afterwards."""
    if not changes:
        yield
        return
    _put_all(changes, "after")
    try:
        yield
    finally:
        _put_all(changes, "before")


def _put_all(changes, side: str):
    """Give every changed setting its value before or after the change (what cannot be set stays)."""
    reg = registry()
    for change in changes:
        try:
            put(change.setting, getattr(change, side), reg)
        except Exception:
            pass


_FILTER_OBJECTS = {}  # normalised filter -> the real filter tuple, to put filters back as they were


def _remember_filters():
    for real in warnings.filters:
        action, message, category, module, lineno = real
        key = (action, getattr(message, "pattern", message), getattr(category, "__name__", str(category)),
               getattr(module, "pattern", module), lineno)
        _FILTER_OBJECTS.setdefault(key, real)


def _set_filters(normalised):
    real = [_FILTER_OBJECTS[f] for f in normalised if f in _FILTER_OBJECTS]
    warnings.filters[:] = real
    warnings._filters_mutated() if hasattr(warnings, "_filters_mutated") else None


def remember(values: dict) -> None:
    """Keep what restore() needs to put back objects, not only their descriptions."""
    _remember_filters()


@contextlib.contextmanager
def watching(baseline_filters=None):
    """Run a block with pytest's own warning filters and log handlers out of the way, so that
    warnings.simplefilter and logging.basicConfig inside it take effect and can be seen;
    yield a dict that receives 'before' and 'after' snapshots; put pytest's back afterwards."""
    seen = {}
    saved_handlers, saved_level = list(logging.root.handlers), logging.root.level
    with warnings.catch_warnings():
        if baseline_filters is not None:
            _set_filters(baseline_filters)
        logging.root.handlers[:] = []
        try:
            seen["before"] = snapshot()
            yield seen
        finally:
            seen["after"] = snapshot()
            _remember_filters()
            logging.root.handlers[:] = saved_handlers
            logging.root.setLevel(saved_level)


# ----------------------------------------------------------------- global random generators


def rngs() -> dict:
    """{generator: (read its state as bytes, save it, put a saved state back)} for those imported now."""
    import random

    out = {"numpy global generator (np.random)": (lambda: repr(np.random.get_state()).encode(), np.random.get_state,
                                                  np.random.set_state),
           "python random": (lambda: repr(random.getstate()).encode(), random.getstate, random.setstate)}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch global generator"] = (lambda: torch.get_rng_state().numpy().tobytes(), torch.get_rng_state,
                                         torch.set_rng_state)
        cuda = torch.cuda
        if cuda.is_available() and cuda.is_initialized():  # torch.cuda.manual_seed_all seeds these alone
            try:
                cuda.get_rng_state_all()
                out["torch cuda generators"] = (lambda: b"".join(t.numpy().tobytes() for t in cuda.get_rng_state_all()),
                                                cuda.get_rng_state_all, cuda.set_rng_state_all)
            except RuntimeError:  # a device that cannot say: left unwatched
                pass
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "random"):
        from tensorflow.python.eager import context
        from tensorflow.python.ops import stateful_random_ops as srm

        def tf_state():
            return None if srm.global_generator is None else srm.global_generator.state.numpy()

        def tf_put(state):
            if state is not None and srm.global_generator is not None:
                srm.global_generator.state.assign(state)

        out["tensorflow global seed (tf.random.set_seed)"] = (lambda: repr(context.global_seed()).encode(),
                                                               context.global_seed, tf.random.set_seed)
        out["tensorflow global generator"] = (lambda: repr(tf_state()).encode(), tf_state, tf_put)
    return out


def distinct_states(seed: int) -> None:
    """Put every global generator in a state derived from seed: two seeds, two different states."""
    import random

    np.random.seed(seed)
    random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "random"):
        from tensorflow.python.ops import stateful_random_ops as srm

        tf.random.set_seed(seed)
        if srm.global_generator is not None:
            srm.global_generator.reset_from_seed(seed)


@contextlib.contextmanager
def saved_rngs():
    """Put every global generator back as it was after the block."""
    saved = {k: save() for k, (_, save, _) in rngs().items()}
    try:
        yield
    finally:
        for k, (_, _, put) in rngs().items():
            if k in saved:
                try:
                    put(saved[k])
                except Exception:
                    pass


# ----------------------------------------------------------------- warm-up


BASELINE = {}  # the state every test starts from: taken at start-up, extended by each warm-up
WARMED = set()


def take_baseline() -> dict:
    BASELINE.clear()
    BASELINE.update(snapshot())
    remember(BASELINE)
    return BASELINE


def ensure_warm(frameworks) -> list:
    """Warm up the frameworks not warmed yet, and add what their set-up changed to the baseline
    (it is the framework's doing, once per process). Returns those changes."""
    new = set(frameworks) - WARMED
    if not new:
        return []
    before = snapshot()
    warm_up(new)
    WARMED.update(new)
    after = snapshot()
    changes = diff(before, after)
    if BASELINE:
        for change in changes:
            _extend(change)
        BASELINE.update({k: v for k, v in after.items() if k not in BASELINE})  # settings of a new framework
        remember(BASELINE)
    return changes


def _extend(change):
    """Record change.after in BASELINE as the value the setting should have from now on."""
    name = change.setting
    for prefix, key in (("environment variable ", "environ"), ("logging: logger ", "loggers")):
        if name.startswith(prefix):
            sub = name.removeprefix(prefix)
            if change.after is MISSING:
                BASELINE[key].pop(sub, None)
            else:
                BASELINE[key][sub] = change.after
            return
    prefix, _, sub = name.rpartition(" ")
    if prefix in EXPANDED:
        BASELINE[prefix] = dict(BASELINE.get(prefix, {}), **{sub: change.after})
    else:
        BASELINE[name] = change.after


def warm_up(frameworks) -> None:
    """Run each framework's one-time set-up now (imports, first use, compilers), and import each
    other library named 'module:NAME'."""
    frameworks = set(frameworks)
    np.ones((2, 2)) @ np.ones((2, 2))
    if frameworks & {"torch", "torch.compile"}:
        _warm_torch("torch.compile" in frameworks)
    if frameworks & {"tensorflow", "keras", "tf.jit_compile"}:
        _warm_tensorflow("tf.jit_compile" in frameworks)
    if "jax" in frameworks:
        _warm_jax()
    for name in sorted(f.removeprefix("module:") for f in frameworks if f.startswith("module:")):
        try:  # another library a plug-in imports: what its import changes is its own doing
            with saved_rngs():
                importlib.import_module(name)
        except (Exception, SystemExit):  # not installed, not a module, or failing: the plug-in's import will say
            pass
    import threadpoolctl

    _BLAS[:] = threadpoolctl.ThreadpoolController().lib_controllers


def _warm_torch(compile_too: bool):
    import torch

    with saved_rngs():
        layer = torch.nn.Linear(2, 2)
        for opt in (torch.optim.SGD(layer.parameters(), lr=0.1), torch.optim.Adam(layer.parameters(), lr=0.1)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(layer(torch.ones(1, 2)), torch.zeros(1, 2)).backward()
            opt.step()
        if compile_too:
            torch.compile(lambda a: a * 2 + 1, fullgraph=True)(torch.ones(2))
            # inductor lifts the recursion limit to 2000 whenever it compiles a graph (compile_fx.py),
            # but not when its on-disk cache answers: lifted here, as its next compile would
            sys.setrecursionlimit(max(sys.getrecursionlimit(), 2000))


def _warm_tensorflow(xla: bool):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    with saved_rngs():
        w = tf.Variable([[1.0]])
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.matmul(w, w))
        tape.gradient(loss, [w])
        tf.function(lambda a: a * 2)(tf.constant(1.0))
        if xla:
            tf.function(lambda a: a * 2, jit_compile=True)(tf.constant(1.0))
        graph = tf.Graph()
        with graph.as_default():
            v = tf.Variable(1.0)
            init = tf.compat.v1.global_variables_initializer()
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(init)
            sess.run(v)


def _warm_jax():
    import jax
    import jax.numpy as jnp

    jax.jit(jax.value_and_grad(lambda a: jnp.sum(a * a)))(jnp.ones(2))
    with jax.enable_x64(True):
        jax.jit(lambda a: a + 1)(jnp.ones(2, dtype=jnp.float64))


# ----------------------------------------------------------------- a caller's defaults, changed


def _other_torch_dtype(dtype):
    torch = sys.modules["torch"]
    return torch.float64 if dtype == torch.float32 else torch.float32


# the process-wide defaults a caller may have set that decide a dtype when code names none: their
# framework, the registry's setting that reads and sets them, and their other value. A module owes
# the same result under either (its precision is cfg.dtype's)
DEFAULTS = {"torch's default dtype (torch.set_default_dtype)": ("torch", "torch default dtype", _other_torch_dtype),
            "Keras' floatx (keras.config.set_floatx)": ("keras", "keras floatx",
                                                        lambda v: "float32" if v == "float64" else "float64"),
            "JAX's x64 mode (jax_enable_x64)": ("jax", "jax config",
                                                lambda v: {"jax_enable_x64": not v["jax_enable_x64"]})}


def defaults_of(frameworks) -> list:
    """The names of the DEFAULTS that apply to a module using these frameworks (Keras with TensorFlow)."""
    used = set(frameworks) | ({"keras"} if {"tensorflow", "tf.jit_compile"} & set(frameworks) else set())
    return [name for name, (framework, *_) in DEFAULTS.items() if framework in used]


@contextlib.contextmanager
def flipped(names):
    """The named DEFAULTS set to their other value (float64 for float32, x64 on for off), then put back."""
    for name in names:
        importlib.import_module(DEFAULTS[name][0])
    reg, undo = registry(), []
    try:
        for name in names:
            _, setting, other = DEFAULTS[name]
            get, put = reg[setting]
            undo.append((put, get()))
            put(other(undo[-1][1]))
        yield
    finally:
        for put, value in reversed(undo):
            put(value)
