"""What comes back from a call in a worker, made the suite's: the result (checked for its keys and
for what NumPy can read), an exception rebuilt as its class, what the call did to the caller's inputs;
and the one line that names a call or an error."""
import numpy as np
import pytest

from conformance.errors import one_line
from implementations.contract import RESULT_KEYS, Config


class ImplError(Exception):
    """An implementation module that cannot be used, with the reason."""



def one_line_error(e: BaseException) -> str:
    if isinstance(e, pytest.fail.Exception):
        return str(e.msg).splitlines()[0]
    if getattr(e, "oneline", None):  # raised in the worker: the line it made there, with the module's place
        return e.oneline
    return one_line(e)  # the same line, with the last place outside the suite's code


class Returned(dict):
    """A call's result in the suite's process; .call names the module's own object in its worker."""

    call = None


def as_result(impl, raw, cfg) -> dict:
    """raw: the worker's account of what train returned ({'notmapping': type} or its keys' values)."""
    __tracebackhide__ = True
    where = f"[{impl.name}]"
    if "notmapping" in raw:
        pytest.fail(f"train returned {raw['notmapping']}, but should return a Result or a mapping with keys "
                    f"{list(RESULT_KEYS)} {where}", pytrace=False)
    got = Returned(raw["values"])
    got.call = raw.get("call")
    need = [k for k in RESULT_KEYS if k != "grads" or cfg.steps > 0]
    if cfg.model == "dynamic":
        need.append("depths")
    missing = [k for k in need if got.get(k) is None]
    if missing:
        pytest.fail(f"train returned a result without {missing}; it has {sorted(got)} {where}", pytrace=False)
    for key in need:  # what NumPy cannot read (a tensor that requires grad, one on a GPU) is said here, once
        value = got[key]
        for name, v in (value.items() if hasattr(value, "items") else [(None, value)]):
            try:
                np.asarray(v, dtype=float)
            except Exception as e:  # noqa: BLE001 - any framework's refusal
                what = key if name is None else f"{key}[{name!r}]"
                pytest.fail(f"train returned {what} as {type(v).__name__}, which NumPy cannot read "
                            f"({type(e).__name__}: {str(e).splitlines()[0][:120]}); return NumPy arrays of "
                            f"cfg.dtype (from torch: tensor.detach().cpu().numpy()) {where}", pytrace=False)
    return got


def call_text(impl, cfg) -> str:
    """The call, as a fault's message names it: train(x, y, Config(...)) with the settings that matter."""
    fields = cfg.asdict() if hasattr(cfg, "asdict") else {}
    shown = ", ".join(f"{k}={v!r}" for k, v in fields.items() if k not in ("init", "depths")
                      and not (isinstance(v, (int, float, str)) and v == getattr(Config(), k, object())))
    extra = (", init=<given>" if fields.get("init") is not None else "") + \
        (f", depths=<{len(fields['depths'])}>" if isinstance(fields.get("depths"), (tuple, list)) else "")
    return f"{impl.name}.train(x, y, Config({shown}{extra}))"


_REMOTE = {}


def remote_exception(info: dict) -> Exception:
    """The exception a call raised in its worker, rebuilt here: the same builtin class (ValueError,
    NotImplementedError, ...), or a class of the same name derived from its builtin base; its
    one-line account (with the module's file and line) in .oneline."""
    import builtins

    cls = getattr(builtins, info["type"], None)
    if not (info["module"] == "builtins" and isinstance(cls, type) and issubclass(cls, Exception)):
        base = next((getattr(builtins, b) for b in info["bases"] if isinstance(getattr(builtins, b, None), type)
                     and issubclass(getattr(builtins, b), Exception)), Exception)
        key = (info["module"], info["type"], base)
        if key not in _REMOTE:
            _REMOTE[key] = type(info["type"], (base,), {"__module__": info["module"], "__str__": lambda self: self.text})
        cls = _REMOTE[key]
    try:
        e = cls(info["message"])
    except Exception:  # noqa: BLE001 - a builtin that wants other arguments (UnicodeError's)
        e = RuntimeError(info["message"])
    e.text, e.oneline, e.remote_traceback = info["message"], info["oneline"], info["traceback"]
    return e


def mirror(done: dict, x, y, cfg):
    """Do to the caller's inputs here what the call did to them in its worker (write into x or y,
    set a cfg field, put another array into cfg.init or change its keys), so that the checks that
    the inputs stay the caller's see it."""
    for name, a in (("x", x), ("y", y)):
        if name in done and isinstance(a, np.ndarray):
            was = a.flags.writeable
            try:
                a.flags.writeable = True
                a[...] = done[name]
                a.flags.writeable = was
            except ValueError:
                pass
    for k, v in (done.get("fields") or {}).items():
        object.__setattr__(cfg, k, v)
    init = cfg.init if isinstance(cfg.init, dict) else None
    if init is None:
        return
    if "init_keys" in done:
        for k in [k for k in init if k not in done["init_keys"]]:
            del init[k]
        for k in done["init_keys"]:
            init.setdefault(k, np.zeros(0))
    for k, v in (done.get("init") or {}).items():
        if k in done.get("init_swapped", ()):
            init[k] = v
        elif k in init and isinstance(init[k], np.ndarray):
            try:
                init[k][...] = v
            except ValueError:
                init[k] = v
