"""An implementation under test: loading it, the frameworks it uses, and the structures it computes."""
import importlib
import importlib.util
import itertools
import os
import re
import sys
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from conformance import ROOT, isolation, notebooks
from conformance.imports import FRAMEWORKS, frameworks_of, libraries_of  # noqa: F401 - FRAMEWORKS: the plugin's
from conformance.submissions import defines_train
from conformance.worker import one_line, shown_path  # noqa: F401 - the report names paths this way too
from conformance.data import SMALL, SMALL_DTYPE, make_data
from implementations.contract import RESULT_KEYS, STRUCTURAL, Config

BUNDLED = ROOT / "implementations"
ORACLE = ROOT / "conformance" / "core" / "oracle.py"
GPU_FRAMEWORKS = frozenset(FRAMEWORKS) - {"numpy"}  # those that can run on a GPU

# The 16 structural combinations of the contract, in a fixed order.
STRUCTURES = tuple(dict(zip(STRUCTURAL, combo)) for combo in itertools.product(
    ("two_layer", "dynamic"), (False, True), ("sum", "mean"), ("sgd", "adam")))


def structure_id(s: dict) -> str:
    """'two_layer-bias-mean-adam', 'dynamic-nobias-sum-sgd': how test ids name a structure."""
    return f"{s['model']}-{'bias' if s['bias'] else 'nobias'}-{s['loss']}-{s['optimizer']}"


def structure_of(cfg) -> dict:
    return {k: getattr(cfg, k) for k in STRUCTURAL}


class ImplError(Exception):
    """An implementation module that cannot be used, with the reason."""


@dataclass
class Impl:
    """One implementation under test, as the suite's process sees it: what its module declares,
    and the worker process it runs in (conformance/isolation.py). run() is a call in that worker."""

    name: str
    config: Config
    tags: tuple
    spec: str = ""  # what --impl was given; empty for a bundled module
    path: Path = None
    frameworks: tuple = ()
    import_changes: list = field(default_factory=list)  # process-wide state its import changed, in words
    last: tuple = None  # (steps, final loss) of the latest run, for the live progress line
    trained: tuple = (0.0, 0, 0)  # (seconds, calls, steps) spent inside its train, all told
    alone: str = ""  # its name when run alone, where another of its name made it folder/name
    dotted: str = None  # the dotted name it was imported by, or None for a file
    has_config: bool = False
    faults: list = field(default_factory=list)  # WorkerFault of its calls, in order
    stuck: set = field(default_factory=set)  # settings its calls left changed for good (no setter puts them back)
    leaks: list = field(default_factory=list)  # process-wide state its calls left changed (the teardown says it)
    reply: dict = field(default_factory=dict)  # the latest call's facts: seconds, state changes, generators
    fault: object = None  # a WorkerFault of its import: every check fails with it
    problem: str = ""  # why a class's file cannot be used (its import failed): its own-cell check fails with it
    notes: list = field(default_factory=list)  # what the suite left out of it (a notebook's IPython lines)
    _probe: dict = None
    _worker: object = None
    _timing: dict = field(default_factory=dict)  # thread budget -> its timing worker (the speed family's)
    _beside: set = field(default_factory=set)
    _returned: dict = field(default_factory=dict)  # call number in its worker -> weakref to the result here
    _probe_faults: dict = field(default_factory=dict)  # structure id -> the WorkerFault its probe met

    def __repr__(self):
        return self.name

    def __hash__(self):
        return id(self)

    @property
    def dynamic(self) -> bool:
        return any(s["model"] == "dynamic" for s in self.claims())

    @property
    def where(self) -> str:
        return self.spec or f"implementations/{self.name}.py"

    @property
    def seconds(self) -> float:
        """How long the latest call spent in train, timed inside its worker (no transport)."""
        return self.reply.get("seconds", 0.0)

    @property
    def cpu_seconds(self) -> float:
        """The CPU time of the latest call, every thread of its worker (the cores it used)."""
        return self.reply.get("cpu", 0.0)

    def worker(self, cores=None):
        """Its worker, started (and the module imported there) if none is running; cores: a
        timing's worker, held to that thread budget (conformance/budgets.py)."""
        if cores is not None:
            return self._timing_worker(cores)
        if self._worker is not None and self._worker.alive():
            _ACTIVE.move_to_end(id(self), last=True)
            return self._worker
        self._worker, self._beside, self._returned = None, set(), {}
        if self.problem:
            raise isolation.WorkerFault("NOT RUN", f"not run: {self.problem}")
        self._refuse_if_faulted()
        _make_room()
        self._worker = self._started(None)
        _ACTIVE[id(self)] = self
        return self._worker

    def _refuse_if_faulted(self):
        if self.fault is not None or sum(f.status != "NOT RUN" for f in self.faults) >= isolation.MAX_FAULTS:
            last = self.fault or self.faults[-1]
            raise isolation.WorkerFault("NOT RUN", f"not run: {self.name} has faulted {len(self.faults)} times in "
                                                   f"this run; the last: {last}")

    def _started(self, cores):
        """A new worker with the module imported (a fault there is counted against the module)."""
        worker = isolation.Worker(cores=cores)
        try:
            _import_in(worker, self.name, self.spec or self.dotted, self.path, self.dotted, self.frameworks, self.where,
                       self.stuck)
        except isolation.WorkerFault as fault:
            worker.stop()
            self.faults.append(fault)
            raise
        return worker

    def _timing_worker(self, cores):
        """A worker of its own per thread budget, kept from one pass of the timings to the next
        while memory allows (TIMING_MOST): a new one would import and compile again."""
        key = (id(self), cores)
        worker = self._timing.get(cores)
        if worker is not None and worker.alive():
            _TIMING.move_to_end(key, last=True)
            return worker
        self._refuse_if_faulted()
        while len(_TIMING) >= timing_most():
            (impl_id, budget), impl = _TIMING.popitem(last=False)
            impl._timing.pop(budget).stop()
        worker = self._timing[cores] = self._started(cores)
        _TIMING[key] = self
        return worker

    def stop(self):
        if self._worker is not None:
            self._worker.stop()
        self._worker = None
        _ACTIVE.pop(id(self), None)
        for cores, worker in list(self._timing.items()):
            worker.stop()
            _TIMING.pop((id(self), cores), None)
        self._timing.clear()

    def run(self, x, y, cfg, *, flip=None, rngs=None, watch=False, beside=None, fresh=False, cores=None) -> dict:
        """Call train in its worker and return its result as a dict, failing cleanly on missing keys.

        The call's facts are in self.reply: 'seconds' inside train, 'changes' (process-wide state
        the call changed, put back by the worker; reported by the plugin after the test unless
        watch), 'rngs_before'/'rngs_after' (digests of the global generators, with rngs=seed: put
        in distinct states from seed first), under flip=[names of state.DEFAULTS] set otherwise.
        beside: another Impl, run in this one's worker (the calls of others in one process).
        fresh: in the run's one spawned interpreter instead (another hash seed and address layout).
        cores: in a worker held to that thread budget (the speed family's)."""
        took, steps = 0.0, 0
        msg = {"op": "call", "x": x, "y": y, "cfg": cfg.asdict(), "flip": list(flip or []), "rngs": rngs}
        try:
            worker = _fresh_worker() if fresh else self.worker(cores)
            if fresh:
                msg["other"] = _load_into(_FRESH, self)
            elif beside is not None:
                msg["other"] = self._load_beside(worker, beside)
            try:
                reply = worker.request(msg, call_text(self, cfg) + (" in a fresh process" if fresh else ""))
            except isolation.WorkerFault as fault:
                if fresh:
                    _FRESH.clear()
                    worker.stop()
                self._fault(fault, keep=fresh)
                raise
            self.reply, took = reply, reply.get("seconds", 0.0)
            _mirror(reply.get("inputs") or {}, x, y, cfg)
            if not fresh and cores is None:
                self._earlier(reply.get("earlier") or [])
            self.stuck.update(reply.get("stuck", []))
            if not watch and reply.get("leaks") and not fresh:
                self.leaks.append((reply["leaks"], reply.get("stuck", [])))
            if "exit" in reply:
                fault = isolation.WorkerFault("EXIT", f"train called sys.exit({reply['exit']['code']!r}); raise an "
                                                      f"exception instead{reply['exit']['where']}, in "
                                                      f"{call_text(self, cfg)}")
                self._fault(fault, keep=True)
                raise fault
            if "interrupt" in reply:
                fault = isolation.WorkerFault("INTERRUPT", f"train raised KeyboardInterrupt"
                                                           f"{reply['interrupt']['where']}, in {call_text(self, cfg)}: "
                                                           "raise an ordinary exception (KeyboardInterrupt is the "
                                                           "user's Ctrl-C)")
                self._fault(fault, keep=True)
                raise fault
            if "raised" in reply:
                raise remote_exception(reply["raised"])
            steps = int(cfg.steps) if isinstance(getattr(cfg, "steps", None), (int, np.integer)) else 0
        finally:  # a refused call's time counts too; another module's, run beside it, does not
            seconds, calls, total = self.trained
            if beside is None:
                self.trained = (seconds + took, calls + 1, total + steps)
        result = as_result(self, reply["result"], cfg)
        if not fresh and cores is None:
            self._returned[result.call] = weakref.ref(result)
            self._returned.pop(result.call - 8, None)  # the worker keeps its last 8
        try:
            losses = np.asarray(result["losses"], dtype=float).ravel()
            self.last = (losses.size, float(losses[-1])) if losses.size else self.last
        except Exception:  # noqa: BLE001 - losses that are not numbers: the contract family says so
            pass
        return result

    def _earlier(self, changed):
        """Do to the results this suite holds what the module did to its own after returning them."""
        for call, key, name, values in changed:
            result = self._returned.get(call, lambda: None)()
            if result is None or key not in result:
                continue
            holder, slot = (result, key) if name is None else (result[key], name)
            if not hasattr(holder, "__setitem__") or (name is not None and slot not in holder):
                continue
            target = holder[slot]
            if isinstance(target, np.ndarray) and target.shape == values.shape and target.flags.writeable:
                target[...] = values
            else:
                holder[slot] = values

    def write_into(self, result, value) -> int:
        """Write value into the arrays the module returned for result, in its own process (a caller
        may write into what it was given); returns how many arrays took it."""
        call = getattr(result, "call", None)
        if call is None or self._worker is None:
            return 0
        return self._worker.request({"op": "write", "call": call, "value": value}, f"writing into a result of {self.name}")["written"]

    def devices(self) -> tuple:
        """(the cfg.device strings of the GPUs its frameworks see, why none if none), asked in its worker."""
        reply = self.worker().request({"op": "devices", "frameworks": list(self.frameworks)},
                                      f"asking {self.name}'s frameworks for GPUs")
        return reply.get("devices", []), reply.get("missing", "")

    def _load_beside(self, worker, other) -> str:
        key = other.spec or other.dotted or str(other.path)
        if key not in self._beside:
            _import_in(worker, other.name, key, other.path, other.dotted, other.frameworks, other.where)
            self._beside.add(key)
        return key

    def _fault(self, fault, keep=False):
        self.faults.append(fault)
        if not keep:
            self.stop()

    def repro_flag(self) -> str:
        return f" --impl={self.spec}" if self.spec else ""

    # -- what it computes

    def claims(self) -> list:
        """The structures it computes (in STRUCTURES order): every one it does not refuse."""
        return [s for s in STRUCTURES if self.probe()[structure_id(s)][0] != "refused"]

    def probe(self) -> dict:
        """{structure id: (verdict, detail)}: 'refused' (NotImplementedError naming the field, or
        the value asked for: 'adam is not supported'), 'claimed' (a one-step call returned: the
        cell's own at its sizes, any other at the sizes and precision its checks use, so that a
        compiled module compiles them once), or 'broken'
        (it raised anything else, or NotImplementedError without naming the field: a claim that
        the checks will test)."""
        if self._probe is None:
            self._probe = {structure_id(s): self._try(s) for s in STRUCTURES}
            self.leaks.clear()  # what the probe's calls changed is not the next test's doing
        return self._probe

    def _try(self, structure):
        cfg = self.config.replace(**structure, steps=1, init=None, depths=None)
        if structure != structure_of(self.config):
            cfg = cfg.replace(**SMALL, dtype=SMALL_DTYPE)
        x, y = make_data(cfg, 0)
        try:
            self.run(x, y, cfg)
        except NotImplementedError as e:
            changed = [f for f in STRUCTURAL if structure[f] != getattr(self.config, f)] or list(STRUCTURAL)
            values = [str(structure[f]) for f in changed if isinstance(structure[f], str)]  # "adam is not supported"
            if any(f in str(e) for f in STRUCTURAL) or any(re.search(rf"(?i)\b{v}\b", str(e)) for v in values):
                return "refused", str(e)
            return "broken", f"NotImplementedError that names no field ({', '.join(changed)} expected): {e}"
        except isolation.WorkerFault as e:  # its worker died or hung: every check of this structure would
            self._probe_faults[structure_id(structure)] = e
            return "fault", str(e)
        except BaseException as e:  # noqa: B036 - pytest.fail from as_result included
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            return "broken", one_line_error(e).removesuffix(f" [{self.name}]")
        return "claimed", ""

    def own_fault(self):
        """The WorkerFault that its import, or the probe of its own cell, ended in (None: none)."""
        if self.fault is not None or self.problem:
            return self.fault
        self.probe()
        return self._probe_faults.get(structure_id(structure_of(self.config)))

    def preflight(self) -> str:
        """'' when a call of its own cell works; otherwise one line that says what to fix."""
        if self.problem:
            return self.problem
        if self.fault is not None:
            return str(self.fault)
        verdict, detail = self.probe()[structure_id(structure_of(self.config))]
        if verdict == "refused":
            cell = ", ".join(f"{k}={getattr(self.config, k)!r}" for k in STRUCTURAL)
            claimed = [s for s in STRUCTURES if self.probe()[structure_id(s)][0] != "refused"]
            fix = ("it refuses every structure" if not claimed else
                   "set CONFIG to the cell it implements, e.g. CONFIG = "
                   + repr({k: v for k, v in claimed[0].items() if v != getattr(Config(), k)})
                   + " (with that cell's lr and data)")
            source = "its CONFIG" if self.has_config else \
                "it has no CONFIG, which means the warm-up cell"
            return f"{self.name} refuses its own cell ({cell}; {source}): {detail}. Fix: {fix}"
        if verdict in ("broken", "fault"):
            return f"{self.name}: train fails on a one-step call of its own cell: {detail}"
        return ""


def one_line_error(e: BaseException) -> str:
    if isinstance(e, pytest.fail.Exception):
        return str(e.msg).splitlines()[0]
    if getattr(e, "oneline", None):  # raised in the worker: the line it made there, with the module's place
        return e.oneline
    return one_line(e)  # the same line, with the last place outside the suite's code


class Returned(dict):
    """A call's result in the suite's process; .call names the module's own object in its worker."""

    call = None


def as_result(impl: Impl, raw, cfg) -> dict:
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


# ----------------------------------------------------------------- loading


def locate(spec: str):
    """(path of the source, module name or None for a file) for what --impl was given."""
    path = Path(spec)
    if spec.endswith((".py", notebooks.SUFFIX)) or path.exists():
        if not path.is_file():
            raise ImplError(f"{spec}: no such file")
        return path.resolve(), None
    try:
        found = _find_spec(spec)
    except (ImportError, ValueError) as e:
        raise ImplError(f"{spec}: import failed: {type(e).__name__}: {e}") from None
    if found is None or not found.origin:
        bundled = (BUNDLED / f"{spec}.py").is_file()
        hint = (f" (a bundled implementation: run it with -k {spec}, or give implementations.{spec} or its file)"
                if bundled else "")
        raise ImplError(f"{spec}: import failed: ModuleNotFoundError: no module named {spec!r}{hint}")
    return Path(found.origin), spec


def distinct_names(impls) -> None:
    """Files of one name from different folders (a class's solution.py each) are told apart by
    their folders: alice/solution, bob/solution."""
    for depth in range(1, 8):
        names = [i.name for i in impls]
        dupes = {n for n in names if names.count(n) > 1}
        if not dupes:
            return
        for impl in impls:
            if impl.name in dupes and impl.path is not None:
                impl.alone = impl.alone or impl.name
                impl.name = "/".join(impl.path.resolve().parts[-depth - 1:-1] + (impl.path.stem,))
    raise ImplError(f"two implementations share the name {sorted(dupes)}: rename one file")


def _find_spec(dotted: str):
    """importlib's find_spec, from the directory pytest was started in too, as under `python -m
    pytest` (.venv/bin/pytest puts only its own folder on sys.path)."""
    try:
        found = importlib.util.find_spec(dotted)
    except ModuleNotFoundError:
        found = None
    here = os.getcwd()
    if found is None and here not in sys.path and "" not in sys.path:
        sys.path.append(here)
        found = importlib.util.find_spec(dotted)
    return found


def load(spec: str, keep: bool = True, name: str = "", in_class: bool = False, failed: dict = None) -> Impl:
    """An implementation (a .py path, a notebook or a dotted module name), imported in a worker of
    its own: what its module declares comes back as data; a fault of its import (a crash, an exit,
    a hang) is kept on it, and every check of it fails with that status. keep=False: its worker
    stops once it has answered (a module that only runs beside others). name: its row's name (a
    class's file: its path in the folder). in_class: an import that fails is kept on it as its
    problem (its row fails), not raised (which stops the run). failed: how its import already
    failed in the run's first process ({'status', 'message'} or {'problem'}): kept, not tried again
    (an xdist worker need not wait out a hanging import the controller has timed)."""
    path, dotted = locate(spec)
    plugged = not (dotted or "").startswith("implementations.")
    alone = path.stem if dotted is None else dotted.rpartition(".")[2]
    impl = Impl(name or alone, Config(), (), spec if plugged else "", path, tuple(sorted(frameworks_of(path))),
                dotted=dotted, alone=alone if name and name != alone else "")
    if failed:
        impl.fault = isolation.WorkerFault(failed["status"], failed["message"]) if "status" in failed else None
        impl.problem = failed.get("problem", "")
        return impl
    if keep:
        _make_room()
    worker = isolation.Worker()
    try:
        info = _import_in(worker, alone, impl.spec or dotted, path, dotted, impl.frameworks, impl.where)
    except isolation.WorkerFault as fault:
        worker.stop()
        impl.fault = isolation.WorkerFault(fault.status, f"importing {impl.where}: {fault.message}")
        return impl
    except ImplError as e:
        if not in_class:
            raise
        impl.problem = str(e)
        return impl
    if keep:
        impl._worker, _ACTIVE[id(impl)] = worker, impl
    else:
        worker.stop()
    impl.tags, impl.has_config, impl.notes = tuple(info["tags"]), info["has_config"], info.get("notes", [])
    impl.config = Config(**info["config"])
    impl.import_changes = info["import_changes"]
    return impl


def import_failures(impls) -> dict:
    """{row name: how its import failed} for load(failed=...) in the run's other processes."""
    return {i.name: ({"problem": i.problem} if i.problem else {"status": i.fault.status, "message": i.fault.message})
            for i in impls if i.problem or i.fault is not None}


def _import_in(worker, name, spec, path, dotted, frameworks, where, stuck=()) -> dict:
    """Import a module in a worker; an unusable module raises ImplError, a fault WorkerFault."""
    warm = frameworks_of(path, top_level=True) | libraries_of(path)
    reply = worker.request({"op": "load", "spec": spec or str(path), "path": str(path), "dotted": dotted,
                            "warm": sorted(warm), "frameworks": list(frameworks), "where": where, "name": name,
                            "stuck": sorted(stuck)},
                           f"the import of {where}")
    if "ok" in reply:
        return reply["ok"]
    if "problem" in reply:
        worker.stop()
        raise ImplError(reply["problem"])
    if "exit" in reply:
        worker.stop()
        raise isolation.WorkerFault("EXIT", f"importing it called sys.exit({reply['exit']['code']!r}): put the code "
                                            "a script runs under if __name__ == '__main__':")
    if "interrupt" in reply:
        worker.stop()
        raise isolation.WorkerFault("INTERRUPT", f"its import raised KeyboardInterrupt{reply['interrupt']['where']}")
    worker.stop()
    raise ImplError(f"{where}: import failed: {reply['raised']['oneline']}")


_FRESH = {}  # 'worker': the run's spawned interpreter; 'loaded': the modules imported in it


def _fresh_worker():
    if "worker" not in _FRESH or not _FRESH["worker"].alive():
        _FRESH.clear()
        _FRESH.update(worker=isolation.Worker(fresh=True), loaded=set())
    return _FRESH["worker"]


def _load_into(fresh, impl) -> str:
    key = impl.spec or impl.dotted or str(impl.path)
    if key not in fresh["loaded"]:
        _import_in(fresh["worker"], impl.name, key, impl.path, impl.dotted, impl.frameworks, impl.where)
        fresh["loaded"].add(key)
    return key


_ACTIVE = OrderedDict()  # id(impl) -> impl whose worker runs, least recently used first
ACTIVE_MOST = 6  # workers alive at once in one suite process (each holds its module and compiled code)


_TIMING = OrderedDict()  # (id(impl), thread budget) -> impl whose timing worker runs, least recently used first
TIMING_WORKER_GB = 0.5  # what one timing worker may come to hold (measured: 0.12-0.32 GiB proportional set size)


def timing_most() -> int:
    """Timing workers alive at once: as many as half the memory available now holds, and at
    least ACTIVE_MOST (where /proc/meminfo cannot be read, ACTIVE_MOST)."""
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:")) / 2 ** 20
    except (OSError, StopIteration, ValueError, IndexError):
        return ACTIVE_MOST
    return max(ACTIVE_MOST, int(available / 2 / TIMING_WORKER_GB) + len(_TIMING))


def _make_room():
    while len(_ACTIVE) >= ACTIVE_MOST:
        _, impl = _ACTIVE.popitem(last=False)
        impl.stop()


def stop_all():
    """The run's workers stopped; the fresh interpreter stays for the next run in this process (a
    self-test's inline run: a new one would import every framework again), and ends with it."""
    for impl in [*_ACTIVE.values(), *_TIMING.values()]:
        impl.stop()


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


def _mirror(done: dict, x, y, cfg):
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


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


_GPU = {}


def gpu_missing_reason(frameworks) -> str:
    """'' when a GPU is visible to one of these frameworks; otherwise why not: asked once per set of
    frameworks, in a worker (the suite's own process imports none of them)."""
    key = tuple(sorted(GPU_FRAMEWORKS & set(frameworks)))
    if not key:
        return "no GPU: NumPy runs on the CPU only"
    if key not in _GPU:
        worker = isolation.Worker()
        try:
            _GPU[key] = worker.request({"op": "devices", "frameworks": list(key)}, "asking the frameworks for GPUs",
                                       timeout=max(isolation.LIMITS["timeout"], 120))["missing"]
        finally:
            worker.stop()
    return _GPU[key]


def bundled_specs() -> list:
    """The dotted names of every module in implementations/ that may define train, in teaching order."""
    names = [p.stem for p in sorted(BUNDLED.glob("*.py")) if not p.stem.startswith("_")]
    order = getattr(importlib.import_module("implementations"), "ORDER", ())
    rank = {n: i for i, n in enumerate(order)}
    return [f"implementations.{n}" for n in sorted(names, key=lambda n: (rank.get(n, len(rank)), n))]


def is_implementation(spec: str) -> bool:
    """Whether a bundled module is an implementation (defines train), read from its source."""
    return defines_train(locate(spec)[0])
