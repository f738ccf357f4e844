"""Faults are failures (CONTRACT.md): a module that crashes, exits, hangs, raises KeyboardInterrupt,
exhausts memory, leaves threads or processes running, or patches pytest in its process gets a
failing verdict with a status that names it, in a run that goes on: a correct module beside it
in the same run still conforms, and the run's exit status is never 0."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import ROOT
from meta_tests.catalogue import BUGS
from meta_tests.subprocesses import fresh_env

# one worker for the class run's tests where xdist keeps the group together; the run is shared by a lock anyway
pytestmark = [pytest.mark.selftest, pytest.mark.xdist_group("faults")]
STUDENT = ROOT / "meta_tests" / "correct" / "student.py"
FAULTS = [b for b in BUGS if b.fault]
STATUS = re.compile(r"^(CRASH|EXIT|TIMEOUT|INTERRUPT) \d+/\d+$")


def run(tmp_path, *args, timeout=600):
    """The suite as a user starts it, from tmp_path, with the report in tmp_path/report."""
    env = fresh_env()
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
                           f"--report={tmp_path / 'report'}", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)


def cells(tmp_path) -> dict:
    data = json.loads((tmp_path / "report" / "conformance.json").read_text())
    return {i["name"]: i for i in data["implementations"]}


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    """One run of every faulty module beside a correct one (the limits low enough for the hang and
    the memory hog; the correct module is far from both), as a teacher's class would run. Once per
    test run: pytest-xdist's own recipe for a fixture its workers share (a lock and a file)."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp().parent
    with FileLock(str(root / "faults.lock")):
        saved = root / "faults.json"
        if saved.is_file():
            done = json.loads(saved.read_text())
        else:
            tmp_path = tmp_path_factory.mktemp("faults")
            proc = _class_run(tmp_path)
            done = {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "at": str(tmp_path)}
            saved.write_text(json.dumps(done))
    return subprocess.CompletedProcess([], done["returncode"], done["stdout"], done["stderr"]), cells(Path(done["at"]))


def _class_run(tmp_path):
    (tmp_path / "good.py").write_text(STUDENT.read_text())
    for bug in FAULTS:
        (tmp_path / f"{bug.id}.py").write_text(bug.text())
    families = sorted({b.family.removeprefix("test_") for b in FAULTS} | {"contract"})
    return run(tmp_path, str(ROOT / "tests"), "--impl=good.py", *(f"--impl={b.id}.py" for b in FAULTS),
               "-k", " or ".join(families), "--call-timeout=10", "--memory-limit=1")


def test_the_correct_module_beside_them_conforms(class_run):
    proc, rows = class_run
    assert proc.returncode == 1, f"exit status {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}"
    assert rows["good"]["verdict"].startswith("conforms"), rows["good"]


@pytest.mark.parametrize("bug", FAULTS, ids=[b.id for b in FAULTS])
def test_a_fault_is_its_own_failure(class_run, bug):
    """The faulty module fails with its status (or, for patched reports, is caught all the same),
    in the family that should catch it, and the matrix shows the status."""
    proc, rows = class_run
    row = rows[bug.id]
    assert row["verdict"] == "FAILS", row
    cell = row["cells"][bug.family.removeprefix("test_")]
    assert cell["status"] == "fail" and re.search(bug.message, cell["reason"]), cell
    status = bug.message.split(":")[0]
    if status in ("CRASH", "EXIT", "TIMEOUT", "INTERRUPT"):
        assert cell.get("fault") == status, cell
        matrix = next(line for line in proc.stdout.splitlines() if line.startswith(f"{bug.id} "))
        assert any(STATUS.match(c) for c in re.split(r"\s{2,}", matrix)[1:]), matrix


def _as_a_terminal_starts_it():
    """A run that SIGINT reaches: this test's own process may have SIGINT blocked or ignored (state
    inherited across exec); a user's shell starts pytest with neither."""
    import signal

    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_module_that_prints_millions_of_lines(tmp_path):
    """Output cannot flood the suite: a correct module that prints a million lines at import and
    in every call conforms, and none of it reaches the terminal."""
    flood = STUDENT.read_text().replace("def train(x, y, cfg):\n", "def train(x, y, cfg):\n"
                                        "    print('step\\n' * 100_000, end='')\n", 1)
    (tmp_path / "loud.py").write_text("print('hello\\n' * 1_000_000, end='')\n" + flood)
    proc = run(tmp_path, str(ROOT / "tests"), "--impl=loud.py", "-k", "contract or hygiene")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert cells(tmp_path)["loud"]["verdict"].startswith("conforms")
    assert "hello" not in proc.stdout and len(proc.stdout) < 200_000


@pytest.mark.serial  # it times a Ctrl-C (sleep 8 s, then SIGINT): on a quiet machine the run ends in about 9 s
def test_a_real_interrupt_still_stops_the_run(tmp_path):
    """Ctrl-C from the user (SIGINT to the suite's process) ends the run as pytest ends it, while
    a module's own KeyboardInterrupt is that module's failure (the catalogue's entry)."""
    (tmp_path / "slow.py").write_text(STUDENT.read_text().replace(
        "def train(x, y, cfg):\n", "def train(x, y, cfg):\n    import time\n    time.sleep(3)\n", 1))
    env = {**fresh_env(), "PYTHONFAULTHANDLER": "1"}  # a run that does not end dumps its stacks on SIGABRT
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(ROOT / "tests"),
                             "--impl=slow.py", "--report=none"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            preexec_fn=_as_a_terminal_starts_it,
                            stderr=subprocess.STDOUT, text=True)
    import signal
    import time

    time.sleep(8)
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # where it is stuck, for whoever reads the failure
        proc.send_signal(signal.SIGABRT)
        out, _ = proc.communicate(timeout=30)
        pytest.fail(f"the interrupted run did not end within 120 s; its threads' stacks:\n{out[-6000:]}")
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-2000:]
    assert "KeyboardInterrupt" in out, out[-2000:]
