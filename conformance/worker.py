"""The worker: the process in which an implementation is imported and called, apart from the checks.

The suite's process starts it (conformance/isolation.py) and sends it requests; it answers with
plain data (conformance/wire.py). Everything the module does happens here: its import, every
train call, the state it changes. The checks never run here, so nothing the module patches in
this process (pytest, NumPy, the suite's own modules) can reach a verdict. What is watched here
is reported as facts: the process-wide state a call or the import changed, threads and child
processes it left running, the global generators before and after, the caller's inputs if it
wrote into them.
"""
import ctypes
import os
import signal
import sys
import time

import numpy as np

from conformance import state, watch, wire
from conformance.errors import raised, where
from conformance.importer import ImportProblem, describe_module, load

KEPT_RESULTS = 8  # the raw results a check may still ask to write into (results are the caller's)
HELD_BYTES = 1 << 28  # the most memory that inputs let go of but still held by something may keep alive


def _alone() -> int:
    for a in [np.empty(1)]:  # the references an array has in Server.let_go's loop when nothing else holds it
        return sys.getrefcount(a)


ALONE = _alone()


class Server:
    def __init__(self):
        self.loaded = {}  # spec -> Loaded (its own module, and bystanders run beside it)
        self.main = None
        self.kept = {}  # token -> the array this process hands the module for the caller's array
        self.emptied = []  # inputs let go of: emptied but kept, so that no later input gets their id
        self.held = []  # inputs let go of that a view or the module still holds: emptied when it lets go
        self.results = {}  # call number -> the raw result the module returned
        self.calls = 0
        self.settled = None  # the snapshot after the last call, while nothing has changed since

    def keep(self, token, fresh):
        """The same array object for the same caller's array, call after call, refilled with its
        values now (a module that caches by id(x) must meet the same object, as it would in one
        process with the caller)."""
        old = self.kept.get(token)
        if old is None or old.shape != fresh.shape or old.dtype != fresh.dtype or old.strides != fresh.strides:
            self.let_go(old)
            self.kept[token] = fresh
            return fresh
        if not watch.same(old, fresh):
            was = old.flags.writeable
            try:
                old.flags.writeable = True
                old[...] = fresh
            except ValueError:  # a view whose base is read-only: a new object then
                self.let_go(old)
                self.kept[token] = fresh
                return fresh
            old.flags.writeable = was
        return old

    def let_go(self, a):
        """Free an input the caller no longer has, but keep its object: a module that caches by
        id(x) would otherwise meet a stale entry whenever a new input got a freed one's id, and fail
        by chance anywhere instead of in the check made for that bug."""
        if a is None:
            return
        self.held.append(a)
        del a
        still = []
        for a in self.held:
            try:
                if not a.flags.owndata or sys.getrefcount(a) > ALONE:
                    raise ValueError("a view, or held by the module")
                a.flags.writeable = True
                a.resize(0, refcheck=False)
                self.emptied.append(a)
            except ValueError:
                still.append(a)
        while sum(getattr(a.base, "nbytes", a.nbytes) for a in still) > HELD_BYTES:
            still.pop(0)  # views into large buffers: their ids are let go too, oldest first
        self.held = still

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
            self.let_go(self.kept.pop(token, None))
        impl = self.main if msg.get("other") is None else self.loaded[msg["other"]]
        x, y, fields = msg["x"], msg["y"], msg["cfg"]
        cfg = Config.unchecked(**fields)
        given = watch.inputs(x, y, cfg)
        if state.ensure_warm(impl.frameworks):
            self.settled = None
        flip, seed = msg.get("flip") or [], msg.get("rngs")
        reply = {}
        with state.flipped(flip), state.saved_rngs():
            if seed is not None:
                state.distinct_states(seed)
                reply["rngs_before"] = watch.rng_digest()
            # the state the last call left is the state now, unless settings were flipped or generators set since
            plain = not flip and seed is None
            before = self.settled if self.settled is not None and plain else state.snapshot()
            threads, children = watch.threads(), watch.children()
            began, cpu = time.perf_counter(), time.process_time()
            try:
                with state.applied(impl.import_changes):
                    raw = impl.module.train(x, y, cfg)
            except SystemExit as e:
                reply["exit"] = {"code": _code(e), "where": where(e)}
            except KeyboardInterrupt as e:
                reply["interrupt"] = {"where": where(e)}
            except BaseException as e:  # noqa: BLE001 - every other exception is the call's answer
                reply["raised"] = raised(e)
            else:
                reply["result"] = self.result(raw)
            reply["seconds"] = time.perf_counter() - began
            reply["cpu"] = time.process_time() - cpu  # every thread of this process: the cores a call used
            if seed is not None:
                reply["rngs_after"] = watch.rng_digest()
            after = state.snapshot()
        changes = state.diff(before, after)
        known = set(state.STUCK)  # settings it could not put back before: answered for already
        lasting = [c for c in state.diff(state.BASELINE, after) if c.setting not in {d.setting for d in changes}
                   and c.setting not in state.stuck_by_others(impl.name)]
        left = watch.left_running(threads, children)
        stay = state.restore(state.BASELINE, culprit=impl.name) if changes else []
        self.settled = after if plain and not (changes or lasting or left) else None
        reply["changes"] = [str(c) for c in changes + lasting] + left  # what the hygiene check reads
        reply["leaks"] = [str(c) for c in changes if c.setting not in known] + left  # what the teardown says
        reply["stuck"] = [c.setting for c in stay]
        reply["inputs"] = watch.mirror(given, x, y, cfg)
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
                if a is not None and a.shape == was.shape and a.dtype == was.dtype and not watch.same(a, was):
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


def _code(e: SystemExit):
    return e.code if e.code is None or isinstance(e.code, (int, str)) else repr(e.code)


# ----------------------------------------------------------------- the loop


def _die_with_parent():
    """Linux: this process gets SIGKILL when the suite's process ends, however it ends (a call
    that hangs must not outlive the run)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# Several workers share a GPU: JAX would take 75% of its memory in the first, TensorFlow all of it.
GPU_SHARING = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def serve(conn, out, env=None, cores=None):
    """The worker's loop: one request, one answer, until the suite closes the connection."""
    os.setsid()  # its own session: a Ctrl-C at the terminal is the suite's to handle, not the module's
    _die_with_parent()
    os.dup2(out.fileno(), 1)  # what the module prints goes to the suite's bounded tail, not the terminal
    os.dup2(out.fileno(), 2)
    out.close()
    os.environ.update(env or {})
    for k, v in GPU_SHARING.items():  # the user's own setting stands
        os.environ.setdefault(k, v)
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
        except BaseException as e:  # noqa: BLE001 - an import or a request that failed: said, not fatal
            reply = {"raised": raised(e)}
        try:
            payload = wire.encode(reply)
        except BaseException as e:  # noqa: BLE001 - a result that cannot be sent
            payload = wire.encode({"raised": raised(e)})
        sys.stdout.flush()
        sys.stderr.flush()
        conn.send_bytes(payload)
