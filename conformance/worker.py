"""The worker: the process in which an implementation is imported and called, apart from the checks.

The suite's process starts it (conformance/isolation.py) and sends it requests; it answers with
plain data (conformance/wire.py). Everything the module does happens here: its import, every
train call, the state it changes. The checks never run here, so nothing the module patches in
this process (pytest, NumPy, the suite's own modules) can reach a verdict. What is watched here
is reported as facts: the process-wide state a call or the import changed, threads and child
processes it left running, the global generators before and after, the caller's inputs if it
wrote into them.
"""
import copy
import ctypes
import functools
import importlib
import importlib.util
import inspect
import os
import signal
import sys
import sysconfig
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from conformance import notebooks, state, wire

HERE = str(Path(__file__).resolve().parent)
KEPT_RESULTS = 8  # the raw results a check may still ask to write into (results are the caller's)


def one_line(e: BaseException) -> str:
    """The exception in one line, with the last place in the module's code it came from."""
    if isinstance(e, SyntaxError) and e.filename:  # raised by the compiler: its place is the code's
        text = f"{type(e).__name__}: {e.msg}"
        return text[:300] + f" (at {notebooks.shown_place(e.filename, e.lineno, shown_path)})"
    text = f"{type(e).__name__}: {e}".strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:300] + where(e)


def where(e: BaseException) -> str:
    """' (at mine.py:12)': the last place outside the suite's code that the exception passed
    (' (at alice.ipynb, cell 3, line 2)' in a notebook)."""
    tb, found = e.__traceback__, ""
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if not name.startswith(HERE):
            found = f" (at {notebooks.shown_place(name, tb.tb_lineno, shown_path)})"
        tb = tb.tb_next
    return found


def shown_path(path) -> str:
    """path as a user would type it: relative to the working directory when inside it."""
    path, here = Path(path), Path.cwd()
    for candidate in (path.absolute(), path.resolve()):
        if candidate.is_relative_to(here):
            return str(candidate.relative_to(here))
    return str(path)


def raised(e: BaseException) -> dict:
    """An exception as data: its type, the builtin classes it derives from, its message, one line."""
    bases = [c.__name__ for c in type(e).__mro__ if c.__module__ == "builtins"]
    return {"type": type(e).__name__, "module": type(e).__module__, "bases": bases, "message": str(e)[:2000],
            "oneline": one_line(e), "traceback": "".join(traceback.format_exception(e))[-4000:]}


# ----------------------------------------------------------------- loading


class ImportProblem(Exception):
    """The module cannot be used (no train, a bad CONFIG), with the reason."""


class Loaded:
    """An implementation imported in this process."""

    def __init__(self, name, module, frameworks, import_changes, notes=()):
        self.name, self.module, self.frameworks, self.import_changes = name, module, frameworks, import_changes
        self.notes = list(notes)  # what the suite left out of it (a notebook's IPython lines), in words


def load(spec: str, path: str, dotted, warm, frameworks) -> Loaded:
    """Import the module (a file, or a dotted name), watching what its import changes: recorded and
    put back, and put on again around each of its own calls, as its author meant it."""
    path = Path(path)
    state.ensure_warm(warm)
    packages = _packages_above(path) if dotted is None else []
    # where its own modules import from, as under `python mine.py` or `python -m`: the suite's doing, before the watch
    folders = [path.parent, packages[0].parent if packages else path.parent] if dotted is None else [os.getcwd()]
    for folder in dict.fromkeys(map(str, folders)):
        if folder not in sys.path and (dotted is None or "" not in sys.path):
            sys.path.insert(0, folder) if dotted is None else sys.path.append(folder)
    state.BASELINE["python sys.path"] = tuple(sys.path)
    cells = notebooks.cells(path) if notebooks.is_notebook(path) else None  # nbformat's import, not the module's
    before = state.snapshot()
    notes = []
    if cells is not None:
        name = path.stem
        module, notes = _exec_notebook(_unique(f"_impl_{name}"), path, cells)
    elif dotted is None:
        name = path.stem
        prefix = _unique(f"_impl_{packages[0].name if packages else name}")
        for i, folder in enumerate(packages):  # its package, under a name of the suite's: `from . import x` works
            _exec(".".join([prefix] + [f.name for f in packages[1:i + 1]]), folder / "__init__.py", folder)
        module = _exec(".".join([prefix] + [f.name for f in packages[1:]] + [name] * bool(packages)), path)
    else:
        module = importlib.import_module(dotted)
        name = dotted.rpartition(".")[2]
    changes = state.diff(before, state.snapshot())
    if changes:
        state.restore(before, changes, culprit=name)
    return Loaded(name, module, frameworks, changes, notes)


def describe_module(loaded: Loaded, where: str) -> dict:
    """What the suite needs to know of the module: its CONFIG's fields, TAGS, and whether train fits."""
    from implementations.contract import Config

    module = loaded.module
    if not callable(getattr(module, "train", None)):
        raise ImportProblem(f"{where}: defines no train(x, y, cfg) function")
    try:
        inspect.signature(module.train).bind(None, None, None)
    except TypeError:
        raise ImportProblem(f"{where}: train{inspect.signature(module.train)} cannot be called as "
                            "train(x, y, cfg)") from None
    except ValueError:  # no signature to read (a builtin): the calls will tell
        pass
    try:
        config = Config.of(getattr(module, "CONFIG", None))
    except (TypeError, ValueError) as e:
        raise ImportProblem(f"{where}: bad CONFIG: {e}") from None
    tags = getattr(module, "TAGS", ())
    if isinstance(tags, str) or not all(isinstance(t, str) and t.isidentifier() for t in tags):
        raise ImportProblem(f"{where}: TAGS must be a sequence of identifier-like words, got {tags!r}")
    return {"name": loaded.name, "config": {k: v for k, v in config.asdict().items()}, "tags": list(tags),
            "has_config": getattr(module, "CONFIG", None) is not None,
            "import_changes": [str(c) for c in loaded.import_changes], "notes": loaded.notes}


def _packages_above(path: Path) -> list:
    """The package folders (with an __init__.py) a file sits in, outermost first."""
    out, folder = [], path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        out.insert(0, folder)
        folder = folder.parent
    return out


def _unique(name: str) -> str:
    unique, n = name, 1
    while unique in sys.modules:
        n += 1
        unique = f"{name}_{n}"
    return unique


def _exec(name: str, path: Path, package: Path = None):
    """Import the source at path as module name (a package whose modules are in `package`)."""
    locations = [str(package)] if package else None
    module_spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=locations)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # so that pickling, dataclasses and relative imports inside it work
    module_spec.loader.exec_module(module)
    return module


def _exec_notebook(name: str, path: Path, cells: list):
    """Run a notebook's code cells in order as the body of module `name`; (module, notes).
    Each cell is compiled under a name of its own, so that an error says which cell."""
    import linecache
    import types

    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.display = _display  # IPython's built-in, which notebooks call as if it were Python's
    sys.modules[name] = module
    notes = []
    for cell in cells:
        filename = notebooks.cell_filename(path, cell.number)
        linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(True), filename)
        notes += cell.notes
        exec(compile(cell.source, filename, "exec"), module.__dict__)
    return module, notes


def _display(*objs, **kwargs):
    print(*objs)


# ----------------------------------------------------------------- the worker's state


class Server:
    def __init__(self):
        self.loaded = {}  # spec -> Loaded (its own module, and bystanders run beside it)
        self.main = None
        self.kept = {}  # token -> the array this process hands the module for the caller's array
        self.results = {}  # call number -> the raw result the module returned
        self.calls = 0
        self.settled = None  # the snapshot after the last call, while nothing has changed since

    def keep(self, token, fresh):
        """The same array object for the same caller's array, call after call, refilled with its
        values now (a module that caches by id(x) must meet the same object, as it would in one
        process with the caller)."""
        old = self.kept.get(token)
        if old is None or old.shape != fresh.shape or old.dtype != fresh.dtype or old.strides != fresh.strides:
            self.kept[token] = fresh
            return fresh
        if not _same(old, fresh):
            was = old.flags.writeable
            try:
                old.flags.writeable = True
                old[...] = fresh
            except ValueError:  # a view whose base is read-only: a new object then
                self.kept[token] = fresh
                return fresh
            old.flags.writeable = was
        return old

    # -- requests

    def op_load(self, msg):
        self.settled = None
        for setting in msg.get("stuck", ()):  # left changed for good by this module in an earlier worker
            state.STUCK.setdefault(setting, msg["name"])
        loaded = load(msg["spec"], msg["path"], msg["dotted"], set(msg["warm"]), tuple(msg["frameworks"]))
        self.loaded[msg["spec"]] = loaded
        if self.main is None:
            self.main = loaded
        return {"ok": describe_module(loaded, msg["where"])}

    def op_call(self, msg):
        from implementations.contract import Config

        for token in msg.get("release", ()):
            self.kept.pop(token, None)
        impl = self.main if msg.get("other") is None else self.loaded[msg["other"]]
        x, y, fields = msg["x"], msg["y"], msg["cfg"]
        cfg = Config.unchecked(**fields)
        given = _inputs(x, y, cfg)
        if state.ensure_warm(impl.frameworks):
            self.settled = None
        flip, seed = msg.get("flip") or [], msg.get("rngs")
        reply = {}
        with state.flipped(flip), state.saved_rngs():
            if seed is not None:
                state.distinct_states(seed)
                reply["rngs_before"] = _rng_digest()
            # the state the last call left is the state now, unless settings were flipped or generators set since
            plain = not flip and seed is None
            before = self.settled if self.settled is not None and plain else state.snapshot()
            threads, children = _threads(), _children()
            began, cpu = time.perf_counter(), time.process_time()
            try:
                with state.applied(impl.import_changes):
                    raw = impl.module.train(x, y, cfg)
            except SystemExit as e:
                reply["exit"] = {"code": _code(e), "where": where(e)}
            except KeyboardInterrupt as e:
                reply["interrupt"] = {"where": where(e)}
            except BaseException as e:  # noqa: B036 - every other exception is the call's answer
                reply["raised"] = raised(e)
            else:
                reply["result"] = self.result(raw)
            reply["seconds"] = time.perf_counter() - began
            reply["cpu"] = time.process_time() - cpu  # every thread of this process: the cores a call used
            if seed is not None:
                reply["rngs_after"] = _rng_digest()
            after = state.snapshot()
        changes = state.diff(before, after)
        known = set(state.STUCK)  # settings it could not put back before: answered for already
        lasting = [c for c in state.diff(state.BASELINE, after) if c.setting not in {d.setting for d in changes}
                   and c.setting not in state.stuck_by_others(impl.name)]
        left = _left_running(threads, children)
        stay = state.restore(state.BASELINE, culprit=impl.name) if changes else []
        self.settled = after if plain and not (changes or lasting or left) else None
        reply["changes"] = [str(c) for c in changes + lasting] + left  # what the hygiene check reads
        reply["leaks"] = [str(c) for c in changes if c.setting not in known] + left  # what the teardown says
        reply["stuck"] = [c.setting for c in stay]
        reply["inputs"] = _mirror(given, x, y, cfg)
        reply["earlier"] = self.changed_results(reply.get("result", {}).get("call"))
        return reply

    def changed_results(self, now) -> list:
        """[call, key, name or None, its values now] for each array of an earlier result that the
        module changed after returning it; the suite does the same to its copy."""
        out = []
        for call, (raw, kept) in self.results.items():
            if call == now:
                continue
            arrays = _arrays_of(raw)
            for (key, name), was in kept.items():
                a = arrays.get((key, name))
                if a is not None and a.shape == was.shape and a.dtype == was.dtype and not _same(a, was):
                    out.append([call, key, name, np.array(a, copy=True)])
                    kept[(key, name)] = np.array(a, copy=True)
        return out

    def result(self, raw):
        """The module's result as plain data; the raw object kept (for op_write, and to tell the
        suite when a later call changes what it returned: arrays it keeps and writes into again)."""
        self.calls += 1
        self.results[self.calls] = (raw, _arrays_of(raw, copy=True))
        self.results.pop(self.calls - KEPT_RESULTS, None)
        if not hasattr(raw, "keys") or not hasattr(raw, "__getitem__"):
            return {"call": self.calls, "notmapping": type(raw).__name__}
        from implementations.contract import RESULT_KEYS

        keys = [k for k in raw.keys() if k in RESULT_KEYS or k == "depths"]  # any other key is the module's own
        return {"call": self.calls, "keys": keys, "values": {k: raw[k] for k in keys}}

    def op_write(self, msg):
        """Write a value into every writable float array of an earlier result, as a caller may."""
        self.settled = None
        raw = self.results.get(msg["call"], (None, None))[0]
        written = 0
        if raw is not None and hasattr(raw, "keys"):
            for key in raw.keys():
                if key not in ("losses", "init", "params", "grads"):
                    continue
                value = raw[key]
                for a in (value.values() if hasattr(value, "values") else [value]):
                    if isinstance(a, np.ndarray) and a.flags.writeable and a.dtype.kind == "f" and a.size:
                        a[...] = msg["value"]
                        written += 1
        return {"written": written}

    def op_devices(self, msg):
        """The GPUs the module's frameworks see here, and why none, if none."""
        from conformance import devices

        self.settled = None
        frameworks = set(msg["frameworks"])
        return {"devices": devices.gpu_devices(frameworks), "missing": devices.gpu_missing_reason(frameworks)}


def _arrays_of(raw, copy=False) -> dict:
    """{(key, name or None): array} for the NumPy arrays of a result (copies if asked)."""
    out = {}
    if not (hasattr(raw, "keys") and hasattr(raw, "__getitem__")):
        return out
    for key in ("losses", "init", "params", "grads"):
        try:
            value = raw[key] if key in raw.keys() else None
        except Exception:  # noqa: BLE001 - a mapping that raises: nothing to watch
            continue
        for name, a in (value.items() if hasattr(value, "items") else [(None, value)]):
            if isinstance(a, np.ndarray) and a.dtype.kind in "fiu":
                out[(key, name)] = np.array(a, copy=True) if copy else a
    return out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one shape hold the same bits (NaN equal to NaN): floats compared as
    unsigned integers of their size, 30x faster than np.array_equal(equal_nan=True) on 10^5 floats."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f" and a.dtype.itemsize in (2, 4, 8):
        kind = np.dtype(f"u{a.dtype.itemsize}")
        return bool(np.array_equal(a.view(kind), b.view(kind)))
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _code(e: SystemExit):
    return e.code if e.code is None or isinstance(e.code, (int, str)) else repr(e.code)


def _inputs(x, y, cfg) -> dict:
    """What the caller passed, copied, to find afterwards whatever the call changed in it."""
    init = None if not isinstance(cfg.init, dict) else (dict(cfg.init), {
        k: np.array(v, copy=True) for k, v in cfg.init.items() if isinstance(v, np.ndarray)})
    fields = {k: v for k, v in cfg.asdict().items() if k != "init"}
    return {"x": copy.deepcopy(x), "y": copy.deepcopy(y), "fields": fields, "init": init, "init_object": cfg.init,
            "writeable": [getattr(a, "flags", None) and a.flags.writeable for a in (x, y)]}


def _mirror(given, x, y, cfg) -> dict:
    """What the call did to the caller's inputs, for the suite to do the same to its own: arrays
    written into, cfg fields set, cfg.init's entries replaced or its keys changed."""
    out = {}
    for name, now, was in (("x", x, given["x"]), ("y", y, given["y"])):
        if isinstance(now, np.ndarray) and isinstance(was, np.ndarray) and now.shape == was.shape and \
                not _same(now, was):
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
                   and not _same(cfg.init[k], values[k])]  # values: its arrays, so the same object is one
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


def _rng_digest() -> dict:
    return {name: _hash(read()) for name, (read, _, _) in state.rngs().items()}


def _hash(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _threads() -> set:
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


def _children() -> set:
    """The process ids of this process's children, from /proc (empty where there is none)."""
    found = set()
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                found.update(int(p) for p in f.read().split())
    except OSError:
        pass
    return found


def _left_running(threads, children) -> list:
    """Threads and child processes the call started and left running."""
    out = []
    if _threads() - threads or _children() - children:
        time.sleep(0.05)  # a thread or process on its way out is given a moment to end
    new = [t for t in _threads() - threads if t.is_alive() and _own(t)]
    if new:
        out.append("threads left running: " + ", ".join(
            f"{t.name}{' (daemon)' if t.daemon else ''}" for t in sorted(new, key=lambda t: t.name)[:6]))
    kids = sorted(_children() - children)
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


# ----------------------------------------------------------------- the loop


def _die_with_parent():
    """Linux: this process gets SIGKILL when the suite's process ends, however it ends (a call
    that hangs must not outlive the run)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def serve(conn, out, env=None, cores=None):
    """The worker's loop: one request, one answer, until the suite closes the connection."""
    os.setsid()  # its own session: a Ctrl-C at the terminal is the suite's to handle, not the module's
    _die_with_parent()
    os.dup2(out.fileno(), 1)  # what the module prints goes to the suite's bounded tail, not the terminal
    os.dup2(out.fileno(), 2)
    out.close()
    os.environ.update(env or {})
    if cores:  # a timing's worker: held to its thread budget before any framework starts
        from conformance import budgets

        budgets.hold(cores)
    state.take_baseline()  # extended by each framework's warm-up, before the module is imported
    server = Server()
    from conformance.core import matmul

    handlers = {"load": server.op_load, "call": server.op_call, "write": server.op_write, "devices": server.op_devices,
                "floor": matmul.op_floor, "peak": matmul.op_peak}
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            os._exit(0)
        keep = server.keep
        try:
            msg = wire.decode(data, keep=keep)
            reply = handlers[msg["op"]](msg)
        except SystemExit as e:
            reply = {"exit": {"code": _code(e), "where": where(e)}}
        except KeyboardInterrupt as e:
            reply = {"interrupt": {"where": where(e)}}
        except ImportProblem as e:
            reply = {"problem": str(e)}
        except BaseException as e:  # noqa: B036 - an import or a request that failed: said, not fatal
            reply = {"raised": raised(e)}
        try:
            payload = wire.encode(reply)
        except BaseException as e:  # noqa: B036 - a result that cannot be sent
            payload = wire.encode({"raised": raised(e)})
        sys.stdout.flush()
        sys.stderr.flush()
        conn.send_bytes(payload)
