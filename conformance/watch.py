"""What a call does besides its result, seen in its worker: the caller's inputs written into or
replaced, threads and child processes left running, the global generators' states."""
import copy
import functools
import hashlib
import os
import sysconfig
import threading
import time

import numpy as np

from conformance import state


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one shape hold the same bits (NaN equal to NaN): floats compared as
    unsigned integers of their size, 30x faster than np.array_equal(equal_nan=True) on 10^5 floats."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f" and a.dtype.itemsize in (2, 4, 8):
        kind = np.dtype(f"u{a.dtype.itemsize}")
        return bool(np.array_equal(a.view(kind), b.view(kind)))
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def inputs(x, y, cfg) -> dict:
    """What the caller passed, copied, to find afterwards whatever the call changed in it."""
    init = None if not isinstance(cfg.init, dict) else (dict(cfg.init), {
        k: np.array(v, copy=True) for k, v in cfg.init.items() if isinstance(v, np.ndarray)})
    fields = {k: v for k, v in cfg.asdict().items() if k != "init"}
    return {"x": copy.deepcopy(x), "y": copy.deepcopy(y), "fields": fields, "init": init, "init_object": cfg.init,
            "writeable": [getattr(a, "flags", None) and a.flags.writeable for a in (x, y)]}


def mirror(given, x, y, cfg) -> dict:
    """What the call did to the caller's inputs, for the suite to do the same to its own: arrays
    written into, cfg fields set, cfg.init's entries replaced or its keys changed."""
    out = {}
    for name, now, was in (("x", x, given["x"]), ("y", y, given["y"])):
        if isinstance(now, np.ndarray) and isinstance(was, np.ndarray) and now.shape == was.shape and \
                not same(now, was):
            out[name] = np.array(now, copy=True)
    fields = {k: v for k, v in cfg.asdict().items() if k != "init" and not (given["fields"][k] is v or _eq(given["fields"][k], v))}
    if fields:
        out["fields"] = fields
    if cfg.init is not given["init_object"]:
        out["init_replaced"] = True
    if given["init"] is not None and isinstance(cfg.init, dict):
        objects, values = given["init"]
        if set(cfg.init) != set(objects):
            out["init_keys"] = sorted(map(str, cfg.init))
        replaced = [k for k in objects if k in cfg.init and cfg.init[k] is not objects[k]]
        written = [k for k in values if k in cfg.init and cfg.init[k] is objects[k]
                   and not same(cfg.init[k], values[k])]  # values: its arrays, so the same object is one
        if replaced or written:
            out["init"] = {k: np.array(cfg.init[k], copy=True) for k in replaced + written
                           if isinstance(cfg.init[k], np.ndarray)}
            out["init_swapped"] = replaced
    return out


def _eq(a, b) -> bool:
    try:
        return bool(np.all(a == b))
    except Exception:  # noqa: BLE001 - values that cannot be compared count as changed
        return False


def rng_digest() -> dict:
    return {name: _hash(read()) for name, (read, _, _) in state.rngs().items()}


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def threads() -> set:
    return {t for t in threading.enumerate() if t.is_alive()}


_LIBRARIES = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")})


def _own(thread) -> bool:
    """Whether a thread runs code of the module's (or any code not in an installed library): a pool
    that a framework starts on first use (inductor's compile threads) is the framework's."""
    fn = getattr(thread, "_target", None) or type(thread).run
    while isinstance(fn, functools.partial):
        fn = fn.func
    code = getattr(fn, "__code__", None) or getattr(getattr(fn, "__func__", None), "__code__", None)
    return code is not None and not code.co_filename.startswith(_LIBRARIES)


def children() -> set:
    """The process ids of this process's children, from /proc (empty where there is none)."""
    found = set()
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                found.update(int(p) for p in f.read().split())
    except OSError:
        pass
    return found


def left_running(threads_before, children_before) -> list:
    """Threads and child processes the call started and left running."""
    out = []
    if threads() - threads_before or children() - children_before:
        time.sleep(0.05)  # a thread or process on its way out is given a moment to end
    new = [t for t in threads() - threads_before if t.is_alive() and _own(t)]
    if new:
        out.append("threads left running: " + ", ".join(
            f"{t.name}{' (daemon)' if t.daemon else ''}" for t in sorted(new, key=lambda t: t.name)[:6]))
    kids = sorted(children() - children_before)
    if kids:
        out.append("child processes left running: " + ", ".join(_command(p) for p in kids[:6]))
    return out


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            text = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        text = ""
    return f"pid {pid}" + (f" ({text[:60]})" if text else "")
