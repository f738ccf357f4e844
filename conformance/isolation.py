"""The process boundary: every implementation runs in a worker process the suite owns.

Built on the standard library's multiprocessing, "forkserver" start method, not on pebble or
loky: both hand results back as pickles (unpickling what a module under test made can run its
code in the suite's process), and neither lets the suite keep one long-lived process per
implementation with its imported module and its state. Here requests and answers are bytes in
conformance/wire.py's plain format over a multiprocessing Pipe (send_bytes/recv_bytes; the suite
never calls recv(), which unpickles).

Why forkserver: the fork server is a clean process that imports NumPy, the suite's worker code
and the frameworks the run's implementations use, and never runs them (measured: two threads,
numpy, torch, TensorFlow and JAX imported, no framework work done), so each worker forks from it
with nothing running: 0.4 s to a worker that has run torch, TensorFlow and JAX, against 8.7 s for
a fresh interpreter that imports them (spawn). The suite's own process, whose frameworks may have
threads running, is never forked. The cross-process check of "depends on (x, y, cfg) alone"
uses spawn instead: a fresh interpreter with another hash seed and another address layout.

A worker that dies is a CRASH (killed by a signal) or an EXIT (it ended with a status, the
module called os._exit or sys.exit), one past its time limit a TIMEOUT (killed), one whose
memory passed the limit a CRASH that says so; a KeyboardInterrupt the module raised is an
INTERRUPT. Each is a WorkerFault: the call's failure, never a pass, and the next call starts a
new worker. A Ctrl-C at the terminal goes to the suite alone (the workers have their own session).
"""
import multiprocessing
import multiprocessing.forkserver  # here: one first imported in an inline run (pytester) is dropped, its server left running
import os
import signal
import sys
import threading
import time
import weakref
from collections import deque

from conformance import wire

DEFAULT_TIMEOUT = 300.0  # seconds per call; see docs/isolation.md for the slowest honest call measured
DEFAULT_MEMORY_GB = 8.0  # resident memory of one worker; TensorFlow's and JAX's reservations are virtual
OUTPUT_TAIL = 4000  # characters of a worker's output kept for a CRASH's message
MAX_FAULTS = 3  # after this many faults of one implementation, its remaining calls are not made

LIMITS = {"timeout": DEFAULT_TIMEOUT, "memory_gb": DEFAULT_MEMORY_GB}
LIVE = weakref.WeakSet()  # every running worker (the speed family's busy meter leaves their CPU time out)
ANSWERED = set()  # pids of the workers that answered since the speed family last waited for them to go idle
_PRELOAD = set()


class WorkerFault(BaseException):
    """A call that ended its worker, or ran past a limit: not an exception the module raised, so
    that no check's `except Exception` can take it for an answer. status: CRASH, EXIT, TIMEOUT,
    INTERRUPT, or NOT RUN (after MAX_FAULTS)."""

    def __init__(self, status: str, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


def preload(modules) -> None:
    """Modules the fork server imports (once per suite process) before it forks workers: the
    frameworks the run's implementations use. Only before the fork server has started."""
    _PRELOAD.update(modules)


def _context(fresh: bool):
    if fresh:
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["numpy", "conformance.worker", *sorted(_PRELOAD)])
    return ctx


class Output:
    """A worker's stdout and stderr, drained as it writes them (a module that prints millions of
    lines can neither block on a full pipe nor fill the suite's memory): its tail and its size."""

    def __init__(self, conn):
        self.conn, self.tail, self.size = conn, deque(), 0
        self._chars = 0
        self.thread = threading.Thread(target=self._drain, daemon=True, name="conformance-worker-output")
        self.thread.start()

    def _drain(self):
        fd = self.conn.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.size += len(chunk)
            text = chunk.decode(errors="replace")
            self.tail.append(text)
            self._chars += len(text)
            while self._chars - len(self.tail[0]) > OUTPUT_TAIL:
                self._chars -= len(self.tail.popleft())
        self.conn.close()

    def last(self, lines=12) -> str:
        text = "".join(self.tail)[-OUTPUT_TAIL:]
        kept = [line for line in text.splitlines() if line.strip()][-lines:]
        return "\n".join(kept)


class Worker:
    """One worker process: request(msg) sends a request and returns the answer, or raises WorkerFault."""

    def __init__(self, fresh: bool = False, env=None, cores: int = None):
        ctx = _context(fresh)
        self.conn, child = ctx.Pipe()
        reader, writer = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_serve, args=(child, writer, env, cores), daemon=True,
                                   name="conformance-worker")
        saved = os.environ.get("PYTHONHASHSEED")
        main = sys.modules.get("__main__")
        hidden = getattr(main, "__spec__", None) is None and hasattr(main, "__file__")
        if hidden:  # multiprocessing would run the suite's __main__ script again in the worker: it has no use for it
            main_file = main.__dict__.pop("__file__")
        if fresh:  # another hash seed than the fork server's (a spawned interpreter reads it at start)
            os.environ["PYTHONHASHSEED"] = str(1 + (int(time.time() * 1000) + os.getpid()) % 4_000_000_000)
        try:
            self.process.start()
        finally:
            if hidden:
                main.__file__ = main_file
            if fresh:
                os.environ.pop("PYTHONHASHSEED") if saved is None else os.environ.__setitem__("PYTHONHASHSEED", saved)
        child.close()
        writer.close()
        self.output = Output(reader)
        self.pid = self.process.pid
        self.cores = cores  # its thread budget (conformance/budgets.py), None: as started
        self.tokens = {}  # id(array) -> (weakref to the caller's array, token)
        self.released = []
        self.next_token = 0
        LIVE.add(self)

    def token(self, a) -> int:
        """The same token for the same array object while it lives (its id may be reused after)."""
        entry = self.tokens.get(id(a))
        if entry is not None and entry[0]() is a:
            return entry[1]
        self.next_token += 1
        token, key = self.next_token, id(a)

        def gone(_, key=key, token=token):
            if self.tokens.get(key, (None, None))[1] == token:
                self.tokens.pop(key, None)
            self.released.append(token)

        try:
            self.tokens[key] = (weakref.ref(a, gone), token)
        except TypeError:  # cannot be referenced weakly: a fresh array each call
            return -token
        return token

    def request(self, msg: dict, what: str, timeout: float = None):
        """Send msg and wait for the answer. what: the call, as the fault's message names it."""
        if self.released:
            msg = dict(msg, release=self.released[:])
            self.released.clear()
        data = wire.encode(msg, token=self.token if msg.get("op") == "call" else None)
        limit = LIMITS["timeout"] if timeout is None else timeout
        try:
            self.conn.send_bytes(data)
        except OSError:
            raise self._died(what) from None
        deadline = time.monotonic() + limit
        while True:
            try:
                ready = self.conn.poll(0.05)
            except OSError:
                raise self._died(what) from None
            if ready:
                break
            if not self.process.is_alive():
                raise self._died(what)
            if time.monotonic() > deadline:
                self.stop()
                raise WorkerFault("TIMEOUT", f"no answer within the time limit of {limit:g} s (--call-timeout) "
                                             f"during {what}; the worker was killed")
            rss = _rss_gb(self.pid)
            if rss > LIMITS["memory_gb"]:
                self.stop()
                raise WorkerFault("CRASH", f"killed during {what}: its process used {rss:.1f} GiB of memory, over "
                                           f"the limit of {LIMITS['memory_gb']:g} GiB (--memory-limit)")
        try:
            data = self.conn.recv_bytes()
        except (EOFError, OSError):
            raise self._died(what) from None
        ANSWERED.add(self.pid)
        try:
            return wire.decode(data)
        except ValueError as e:
            self.stop()
            raise WorkerFault("CRASH", f"its worker's answer during {what} could not be read ({e})") from None

    def _died(self, what: str) -> WorkerFault:
        self.process.join(2)
        code = self.process.exitcode
        self.output.thread.join(1)
        tail = self.output.last()
        shown = f"; its last output:\n{tail}" if tail else ""
        LIVE.discard(self)
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return WorkerFault("CRASH", f"the process died of {name} during {what}{shown}")
        return WorkerFault("EXIT", f"the process exited with status {code} during {what}, without answering "
                                   f"(os._exit, or sys.exit in another thread, or a C library's exit){shown}")

    def rss_gb(self) -> float:
        """Its resident memory now, GiB (0 where it cannot be read)."""
        return _rss_gb(self.pid) if self.alive() else 0.0

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self):
        LIVE.discard(self)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        try:
            self.conn.close()
        except OSError:
            pass


def _serve(conn, out, env, cores):
    from conformance import worker

    worker.serve(conn, out, env, cores)


def _rss_gb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 30


def cpu_seconds() -> float:
    """The CPU time every live worker has used so far (for the busy meter)."""
    total = 0.0
    hz = os.sysconf("SC_CLK_TCK")
    for w in list(LIVE):
        try:
            with open(f"/proc/{w.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / hz
        except (OSError, ValueError, IndexError):
            pass
    return total
