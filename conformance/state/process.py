"""The interpreter's, the operating system's and NumPy's per-process settings, the modules the worker's
answers rest on, and the environment, warning filters and loggers."""
import decimal
import gc
import logging
import os
import sys
import warnings

import numpy as np

from conformance.state.values import IGNORED_ENV, MISSING, Change


def _ftz():
    """Whether the CPU flushes denormal results to zero (torch.set_flush_denormal sets MXCSR FTZ/DAZ)."""
    return bool(np.float32(1e-30) * np.float32(1e-10) == 0)


def _set_ftz(on):
    if "torch" in sys.modules:
        sys.modules["torch"].set_flush_denormal(bool(on))


def python():
    return {
        "python recursion limit": (sys.getrecursionlimit, sys.setrecursionlimit),
        "python thread switch interval": (sys.getswitchinterval, sys.setswitchinterval),
        "python gc enabled": (gc.isenabled, lambda v: gc.enable() if v else gc.disable()),
        "python gc thresholds": (gc.get_threshold, lambda v: gc.set_threshold(*v)),
        "python decimal context": (lambda: (decimal.getcontext().prec, decimal.getcontext().rounding),
                                   lambda v: (setattr(decimal.getcontext(), "prec", v[0]),
                                              setattr(decimal.getcontext(), "rounding", v[1]))),
        "numpy print options": (np.get_printoptions, lambda v: np.set_printoptions(**v)),
        "numpy error handling": (np.geterr, lambda v: np.seterr(**v)),
        "numpy error callback": (np.geterrcall, np.seterrcall),
        "flush denormals to zero (FTZ/DAZ)": (_ftz, _set_ftz),
    }


def interpreter():
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
        "module attributes": (lambda: _attributes(builtins), lambda v: put_attributes(v)),
    }


PATCHABLE = ("builtins", "numpy", "numpy.linalg", "json", "struct", "io", "conformance.wire", "conformance.state",
             *(f"conformance.state.{m}" for m in ("values", "process", "frameworks", "changes", "generators", "warmup",
                                                   "defaults")),
             "conformance.worker", "conformance.importer", "conformance.watch", "conformance.errors",
             "implementations.contract")  # what the worker's own answers rest on


def _attributes(builtins) -> dict:
    """{module: a copy of its namespace} for the modules the worker's answers rest on (a C-level copy:
    this is read around every call); diff() names an attribute replaced or deleted, not one added
    (a lazily imported submodule)."""
    return {name: dict(vars(sys.modules[name])) for name in PATCHABLE if name in sys.modules}


def patched(before: dict, after: dict) -> list:
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


def put_attributes(values: dict):
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


def environ():
    return {k: v for k, v in os.environ.items() if k not in IGNORED_ENV}


def filters():
    out = []
    for action, message, category, module, lineno in warnings.filters:
        out.append((action, getattr(message, "pattern", message), getattr(category, "__name__", str(category)),
                    getattr(module, "pattern", module), lineno))
    return tuple(out)


def loggers():
    """{logger name: (level, handlers, propagate, disabled)} for root and every library logger
    (pytest's own capture handlers left out: they come and go with every test phase)."""
    out = {"root": (logging.root.level, own(logging.root.handlers), True, logging.root.disabled)}
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            out[name] = (lg.level, own(lg.handlers), lg.propagate, lg.disabled)
    return out


def inert(handlers) -> bool:
    """Whether handlers do nothing: none at all, or only NullHandler, which the logging HOWTO tells a
    library to add to its own logger ("Configuring Logging for a Library") so that its messages
    never reach logging's last-resort handler. A new logger with only these configures nothing."""
    return all(isinstance(h, logging.NullHandler) for h in handlers)


def own(handlers) -> tuple:
    return tuple(h for h in handlers if not type(h).__module__.startswith("_pytest"))
