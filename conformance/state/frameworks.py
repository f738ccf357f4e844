"""The frameworks' settings, one table per framework: a new flag is one more entry here."""
import os
import sys

from conformance.state.process import interpreter, python
from conformance.state.values import CONTAINERS, copied, same


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
        except Exception:  # noqa: BLE001 - not in this torch build
            continue
        out[path] = (get, put)
    for name in ("linalg", "blas"):  # torch.backends.cuda.preferred_linalg_library(): read; (backend): set
        fn = getattr(torch.backends.cuda, f"preferred_{name}_library", None)
        if fn is not None:
            try:
                fn()
            except Exception:  # noqa: BLE001 - not in this torch build
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
            out[mod] = (_config_reader(config), lambda v, c=config: _set_config(c, v))
    return out


def _config_reader(config):
    """A reader of a torch config module's values (dynamo's, inductor's: about 600 keys, read around
    every call). Where this torch has them, torch's own cached export gives the values (0.08 ms a
    read of inductor's, against 0.81 ms for get_config_copy()), and each container is read from its
    entry as it is now and copied, since the export does not see a change made in place
    (`torch._dynamo.config.traceable_tensor_subclasses.add(...)`); elsewhere, the full copy."""
    cached, entries = getattr(config, "_get_dict", None), getattr(config, "_config", None)
    unset = getattr(sys.modules.get("torch.utils._config_module"), "_UNSET_SENTINEL", None)
    try:
        cached(readonly_values=True)
        for entry in entries.values():
            entry.env_value_force, entry.user_override.get(), entry.env_value_default, entry.default
        if unset is None:
            raise AttributeError("torch.utils._config_module has no _UNSET_SENTINEL")
    except Exception:  # noqa: BLE001 - another torch: its public full copy
        return lambda: {k: copied(v) for k, v in config.get_config_copy().items()}

    def now(entry):  # the object a module would change in place (read without getattr's side effect)
        for value in (entry.env_value_force, entry.user_override.get(), entry.env_value_default):
            if value is not unset:
                return value
        return entry.default

    def read():
        values = dict(cached(readonly_values=True))
        for k, v in values.items():
            if isinstance(v, CONTAINERS):
                values[k] = copied(now(entries[k]))
        return values

    return read


AUTOCAST = ("cpu", "cuda")  # the device types whose autocast state is read


def _set_autocast(torch, value):
    for device, (enabled, dtype) in zip(AUTOCAST, value):
        torch.set_autocast_enabled(device, enabled)
        torch.set_autocast_dtype(device, dtype)




def _set_config(config, wanted: dict):
    """Put config keys back to the values wanted."""
    current = config.get_config_copy()
    for k, v in wanted.items():
        if k in current and not same(current[k], v):
            setattr(config, k, copied(v))


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


BLAS = []  # threadpoolctl's controllers of the BLAS/OpenMP pools loaded at the baseline


def _blas():
    out = {}
    for lib in BLAS:
        name = f"{lib.internal_api} threads ({os.path.basename(lib.filepath)})"
        out[name] = (lib.get_num_threads, lib.set_num_threads)
    return out


_TABLES = {}  # what is imported -> its table: the getters read live, so one table serves every snapshot


def registry() -> dict:
    """{setting name: (get, set or None)} for what is imported now (built once for each set of
    imported frameworks: 0.36 ms a build with torch, read around every call)."""
    modules = sys.modules
    tf, jax = modules.get("tensorflow"), modules.get("jax")
    key = ("torch" in modules, "torch._dynamo.config" in modules, "torch._inductor.config" in modules,
           tf is not None and hasattr(tf, "executing_eagerly"), "keras" in modules,
           jax is not None and hasattr(jax, "config"), tuple(map(id, BLAS)))
    if key not in _TABLES:
        out = python()
        out.update(interpreter())
        out.update(_blas())
        if key[0]:
            out.update(_torch(modules["torch"]))
        if key[3]:
            out.update(_tensorflow(tf))
        if key[4]:
            out.update(_keras(modules["keras"]))
        if key[5]:
            out.update(_jax(jax))
        _TABLES[key] = out
    return dict(_TABLES[key])
