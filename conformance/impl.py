"""An implementation under test, as the suite's process sees it (Impl): its calls, run in its
worker, and the structures it computes."""
import itertools
import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from conformance import isolation, pool
from conformance.data import SMALL, SMALL_DTYPE, make_data
from conformance.replies import as_result, call_text, mirror, one_line_error, remote_exception
from implementations.contract import STRUCTURAL, Config

# The 16 structural combinations of the contract, in a fixed order.
STRUCTURES = tuple(dict(zip(STRUCTURAL, combo)) for combo in itertools.product(
    ("two_layer", "dynamic"), (False, True), ("sum", "mean"), ("sgd", "adam")))


def structure_id(s: dict) -> str:
    """'two_layer-bias-mean-adam', 'dynamic-nobias-sum-sgd': how test ids name a structure."""
    return f"{s['model']}-{'bias' if s['bias'] else 'nobias'}-{s['loss']}-{s['optimizer']}"


def structure_of(cfg) -> dict:
    return {k: getattr(cfg, k) for k in STRUCTURAL}


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
            pool.ACTIVE.move_to_end(id(self), last=True)
            return self._worker
        self._worker, self._beside, self._returned = None, set(), {}
        if self.problem:
            raise isolation.WorkerFault("NOT RUN", f"not run: {self.problem}")
        self._refuse_if_faulted()
        pool.make_room()
        self._worker = self._started(None)
        pool.ACTIVE[id(self)] = self
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
            pool.import_in(worker, self.name, self.spec or self.dotted, self.path, self.dotted, self.frameworks,
                           self.where, self.stuck)
        except isolation.WorkerFault as fault:
            worker.stop()
            self.faults.append(fault)
            raise
        return worker

    def _timing_worker(self, cores):
        """A worker of its own per thread budget, kept from one pass of the timings to the next
        while memory allows (pool.trim_timing): a new one would import and compile again."""
        key = (id(self), cores)
        worker = self._timing.get(cores)
        if worker is not None and worker.alive():
            pool.TIMING.move_to_end(key, last=True)
            pool.trim_timing(keep=key)
            return worker
        self._refuse_if_faulted()
        pool.trim_timing()
        worker = self._timing[cores] = self._started(cores)
        pool.TIMING[key] = self
        return worker

    def stop(self):
        if self._worker is not None:
            self._worker.stop()
        self._worker = None
        pool.ACTIVE.pop(id(self), None)
        for cores, worker in list(self._timing.items()):
            worker.stop()
            pool.TIMING.pop((id(self), cores), None)
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
            worker = pool.fresh_worker() if fresh else self.worker(cores)
            if fresh:
                msg["other"] = pool.load_into(pool.FRESH, self)
            elif beside is not None:
                msg["other"] = self._load_beside(worker, beside)
            try:
                reply = worker.request(msg, call_text(self, cfg) + (" in a fresh process" if fresh else ""))
            except isolation.WorkerFault as fault:
                if fresh:
                    pool.FRESH.clear()
                    worker.stop()
                self._fault(fault, keep=fresh)
                raise
            self.reply, took = reply, reply.get("seconds", 0.0)
            mirror(reply.get("inputs") or {}, x, y, cfg)
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

    def devices(self, cores=None) -> tuple:
        """(the cfg.device strings of the GPUs its frameworks see, why none if none), asked in its
        worker (cores: the timing worker of that budget, which a GPU timing then runs in)."""
        reply = self.worker(cores).request({"op": "devices", "frameworks": list(self.frameworks)},
                                           f"asking {self.name}'s frameworks for GPUs")
        return reply.get("devices", []), reply.get("missing", "")

    def _load_beside(self, worker, other) -> str:
        key = other.spec or other.dotted or str(other.path)
        if key not in self._beside:
            pool.import_in(worker, other.name, key, other.path, other.dotted, other.frameworks, other.where)
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
        except BaseException as e:  # pytest.fail from as_result included
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
