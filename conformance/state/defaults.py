"""A caller's process-wide defaults that decide a dtype where code names none, set the other way."""
import contextlib
import importlib
import sys

from conformance.state.frameworks import registry


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
