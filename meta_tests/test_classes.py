"""A class at a time: folders, patterns and notebooks in; gradebook.csv, Gradescope's results.json
and a report that reads per row out; the same verdicts from one process, from -n 2 and from
pytest-xdist's remote workers (execnet socket servers on loopback standing in for two hosts)."""
import csv
import json
import os
import socket
import subprocess
import sys
import time

import nbformat
import pytest

from conformance import gradebook, isolation, notebooks, panels, remote
from conformance import ROOT
from conformance.loading import declared
from conformance.submissions import SpecError, declared_tags, defines_train, expand
from meta_tests.catalogue import BUGS
from meta_tests.classroom import notebook
from meta_tests.subprocesses import fresh_env

pytestmark = [pytest.mark.selftest, pytest.mark.xdist_group("classes")]
STUDENT = (ROOT / "meta_tests" / "correct" / "student.py").read_text()
BROKEN = next(b for b in BUGS if b.id == "missing_factor_two")
FAMILIES = "contract or learning or test_grads_match_reference_differences"
VERDICTS = ("implementation", "contract", "gradients", "learning", "verdict", "bug")  # what must agree run to run


# ----------------------------------------------------------------- reading what --impl names


def test_python_runs_as_written_and_ipython_lines_are_left_out_with_a_note():
    assert notebooks.python_of("x = 1\nprint(x)\n") == ("x = 1\nprint(x)\n", [])
    text, notes = notebooks.python_of("import numpy as np\n!pip install torch\nfiles = !ls\n%matplotlib inline\n"
                                      "np.dot?\nif True:\n    %time y = 2\nz = 3\n")
    assert text.splitlines() == ["import numpy as np", "pass", "pass", "pass", "pass", "if True:", "    pass", "z = 3"]
    assert [n.split("(")[-1] for n in notes] == ["a shell escape, IPython only)", "a shell escape, IPython only)",
                                                 "an IPython magic)", "IPython help)", "an IPython magic)"]
    assert "line 2" in notes[0] and "'!pip install torch'" in notes[0]
    text, notes = notebooks.python_of("%%time\nw = 1\n!ls\n")
    assert text.splitlines() == ["pass", "w = 1", "pass"] and "%%time" in notes[0]
    assert notebooks.python_of("%%bash\nrm -rf /\n") == ("pass\n", ["left out: a %%bash cell magic (IPython only)"])


def test_a_file_defines_train_by_def_assignment_or_import(tmp_path):
    cases = {"a.py": "def train(x, y, cfg):\n    pass\n", "b.py": "from mine import fit as train\n",
             "c.py": "train = None\n", "d.py": "try:\n    import torch\n    def train(x, y, cfg): pass\nexcept ImportError:\n"
             "    pass\n", "e.py": "def train(:\n", "f.py": "def fit(x, y, cfg):\n    def train(): pass\n",
             "g.py": "X = 1\n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    found = {name: defines_train(tmp_path / name) for name in cases}
    assert found == {"a.py": True, "b.py": True, "c.py": True, "d.py": True, "e.py": True, "f.py": False,
                     "g.py": False}  # e.py cannot be read: its row says why, rather than the file vanishing


def test_the_controller_of_an_xdist_run_reads_what_a_module_declares(tmp_path):
    """Read, not imported (no worker starts): a literal TAGS, none where they are computed or not
    words, and a notebook's notes."""
    cases = {"a.py": "TAGS = ('nn', 'numpy')\ndef train(x, y, cfg): pass\n", "b.py": "TAGS = tuple(['x'])\n",
             "c.py": "TAGS = ('two words',)\n", "d.py": "import numpy\n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "e.ipynb").write_text(notebook(STUDENT, "e"))
    assert {n: declared_tags(tmp_path / n) for n in cases} == {"a.py": ("nn", "numpy"), "b.py": (), "c.py": (), "d.py": ()}
    before = len(isolation.LIVE)
    impl = declared(str(tmp_path / "e.ipynb"), name="class/e")
    assert (impl.name, impl.tags, impl.frameworks) == ("class/e", ("nn", "numpy"), ("numpy",))
    assert impl.notes and all(n.startswith("cell ") for n in impl.notes) and len(isolation.LIVE) == before


def test_a_folder_and_a_pattern_name_rows_by_their_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in ("subs/alice/solution.py", "subs/bob/solution.py", "subs/carol.py", "subs/__pycache__/x.py",
                 "subs/.ipynb_checkpoints/carol-checkpoint.ipynb"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(STUDENT)
    (tmp_path / "subs" / "carol.ipynb").write_text(notebook(STUDENT, "carol"))
    (tmp_path / "subs" / "helpers.py").write_text("SEED = 0\n")
    found = expand(["subs"])
    assert [(e.spec, e.name) for e in found.entries] == [
        ("subs/alice/solution.py", "alice/solution"), ("subs/bob/solution.py", "bob/solution"),
        ("subs/carol.ipynb", "carol.ipynb"), ("subs/carol.py", "carol.py")]
    assert found.not_implementations == ["subs/helpers.py"] and all(e.in_class for e in found.entries)
    pattern = expand(["subs/*/*.py", "subs/alice/solution.py"])  # one file named twice is one row
    assert [(e.spec, e.name) for e in pattern.entries] == [("subs/alice/solution.py", "alice/solution"),
                                                           ("subs/bob/solution.py", "bob/solution")]
    for bad, why in (("nothing/*.py", "no .py file or notebook matches"), ("subs/__pycache__", "no .py file")):
        if bad == "subs/__pycache__":
            (tmp_path / "subs" / "__pycache__" / "x.py").unlink()
        with pytest.raises(SpecError, match=why):
            expand([bad])


def test_shipped_files_name_the_same_rows_on_a_remote_worker(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in ("subs/alice/solution.py", "subs/bob.py", "subs/util.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(STUDENT if "util" not in path else "K = 1\n")
    specs = ["subs", "subs/*/*.py", "subs/bob.py", "implementations.numpy_manual"]
    shipped = remote.package(specs)
    assert set(shipped) == set(specs[:3]) and set(shipped["subs"][2]) == {"alice/solution.py", "bob.py", "util.py"}
    here = remote.unpack(shipped)
    assert "implementations.numpy_manual" not in here
    local = [(e.name, open(e.spec).read()) for s in specs[:3] for e in expand([s]).entries]
    there = [(e.name, open(e.spec).read()) for s in specs[:3] for e in expand([here[s]]).entries]
    assert there == local


def test_a_row_panel_draws_four_curves_and_keeps_spikes():
    losses = [1.0 / (t + 1) for t in range(500)]
    error = [1e-8] * 500
    error[377] = 1e-2  # one spike: thinning keeps each bucket's largest value
    svg = panels.row_svg({"losses": losses, "oracle": losses, "error": error, "bound": [1e-5] * 500})
    assert svg.count("<polyline") == 4 and "step 499" in svg
    curves = svg.split('data-label="error"')[1].split('points="')[1].split('"')[0].split()
    assert len(curves) <= panels.POINTS and min(float(p.split(",")[1]) for p in curves) <= panels.TOP + 1
    assert "no data" in panels.row_svg({"losses": [float("nan")] * 3})


# ----------------------------------------------------------------- a class, end to end


HANGS = "import time\nwhile True:\n    time.sleep(1)\n"


def make_class(folder):
    """Six submissions and a helper: correct .py in a subfolder, a correct notebook with IPython
    lines, training left at its top level and a `!pytest` of itself, a notebook whose cell
    fails, one that hangs at its top level, and a catalogue bug."""
    (folder / "alice").mkdir(parents=True)
    (folder / "alice" / "net.py").write_text(STUDENT)
    book = nbformat.reads(notebook(STUDENT, "bob"), as_version=4)
    book.cells.append(nbformat.v4.new_code_cell("!pytest --impl bob.ipynb"))
    (folder / "bob.ipynb").write_text(nbformat.writes(book))
    book = nbformat.reads(notebook(STUDENT, "carol"), as_version=4)
    book.cells.insert(3, nbformat.v4.new_code_cell("import numpy as np\nrate = learning_rate * 2\n"))
    (folder / "carol.ipynb").write_text(nbformat.writes(book))
    book = nbformat.reads(notebook(STUDENT, "dan"), as_version=4)
    book.cells.append(nbformat.v4.new_code_cell(HANGS))
    (folder / "dan.ipynb").write_text(nbformat.writes(book))
    (folder / "erin.py").write_text(BROKEN.text())
    (folder / "helpers.py").write_text("SEED = 0\n")


def grade(cwd, *args, env=None):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "--impl", "class", "--call-timeout=20", "-k", FAMILIES, *args],
                          cwd=cwd, env=env or fresh_env(), capture_output=True, text=True, timeout=900)


def read_gradebook(path) -> list:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class")
    make_class(tmp / "class")
    proc = grade(tmp, f"--report={tmp / 'out'}")
    return {"proc": proc, "tmp": tmp, "rows": {r["implementation"]: r for r in read_gradebook(tmp / "out" / "gradebook.csv")},
            "json": json.loads((tmp / "out" / "conformance.json").read_text())}


def test_a_folder_goes_in_with_one_flag_and_every_row_gets_its_verdict(graded):
    proc, rows = graded["proc"], graded["rows"]
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    assert "not implementations (they define no train): class/helpers.py" in proc.stdout
    assert {n: r["verdict"] for n, r in rows.items()} == {
        "alice/net": "conforms (3 of 7 families run)", "bob": "conforms (3 of 7 families run)",
        "carol": "FAILS", "dan": "FAILS", "erin": "FAILS"}
    assert rows["alice/net"]["file"] == "class/alice/net.py" and rows["bob"]["file"] == "class/bob.ipynb"


def test_a_notebook_cell_that_fails_names_its_cell(graded):
    carol = graded["rows"]["carol"]
    assert carol["contract"] == "fail" and carol["gradients"] == "not run", carol
    assert "import failed: NameError: name 'learning_rate' is not defined (at class/carol.ipynb, cell 4, line 2)" \
        in carol["reason"], carol


def test_training_left_at_a_notebooks_top_level_runs_within_the_time_limit(graded):
    dan = graded["rows"]["dan"]
    assert dan["contract"] == "timeout" and "TIMEOUT" in dan["reason"] and "20" in dan["reason"], dan


def test_ipython_lines_are_left_out_and_said(graded):
    bob = next(i for i in graded["json"]["implementations"] if i["name"] == "bob")
    assert any("'!pytest --impl bob.ipynb' (a shell escape" in n for n in bob["notes"]), bob["notes"]
    assert "bob: cell 2: left out line 1: '!pip install numpy torch'" in graded["proc"].stdout


def test_the_gradebook_names_the_bug_and_counts_checks(graded):
    erin = graded["rows"]["erin"]
    assert erin["gradients"] == "fail" and erin["bug"].startswith("a missing factor 2"), erin
    assert int(erin["gradients run"]) >= 1 and int(erin["gradients passed"]) == 0
    alice = graded["rows"]["alice/net"]
    assert alice["contract"] == "pass" and alice["contract passed"] == alice["contract run"] != "0"
    assert alice["domain"] == "not run" and "devices" not in alice  # left out by -k; NumPy has no GPU family
    assert all(r[f] in gradebook.STATUSES for r in graded["rows"].values() for f in graded["json"]["all_families"])


def test_the_report_reads_per_row_failures_first(graded):
    page = (graded["tmp"] / "out" / "conformance.html").read_text()
    sections = page.split('<section class="row" id="row-')[1:]
    assert [s.split('"')[0] for s in sections] == ["carol", "dan", "erin", "alice-net", "bob"]
    assert all(s.count("<polyline") == 4 for s in sections if s.startswith(("erin", "alice", "bob")))
    assert '<a href="#row-alice-net">alice/net</a>' in page


def test_a_notebook_verifies_itself_from_its_folder(graded, tmp_path):
    """What `!pytest --impl bob.ipynb` runs inside the notebook: pytest in the notebook's folder."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--impl", "bob.ipynb",
                           "--report=none", "-k", "test_own_cell_runs"], cwd=graded["tmp"] / "class",
                          env=fresh_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout[-2000:]


def test_gradescope_gets_one_test_per_family(tmp_path):
    (tmp_path / "erin.py").write_text(BROKEN.text())
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--impl", "erin.py",
                           "--report=none", f"--gradescope={out}", "-k", FAMILIES], cwd=tmp_path, env=fresh_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:]
    result = json.loads(out.read_text())
    tests = {t["name"]: t for t in result["tests"]}
    assert tests["gradients"]["status"] == "failed" and tests["gradients"]["score"] == 0
    assert "likely: a missing factor 2" in tests["gradients"]["output"] and "To reproduce:" in tests["gradients"]["output"]
    assert tests["learning"] == {"name": "learning", "score": 1.0, "max_score": 1.0, "status": "passed",
                                 "output": "1 of 1 checks passed."}
    assert tests["domain"]["score"] == 0 and tests["domain"]["output"].startswith("not run")
    assert "devices" not in tests and result["score"] == sum(t["score"] for t in result["tests"])
    many = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--impl", ".",
                           f"--gradescope={out}"], cwd=ROOT / "meta_tests" / "correct", env=fresh_env(),
                          capture_output=True, text=True, timeout=300)
    assert many.returncode == pytest.ExitCode.USAGE_ERROR and "--gradescope grades one submission" in many.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_hosts(tmp_path):
    """Two execnet socket servers on loopback, each in a folder of its own: two stand-in hosts
    with the suite installed (this environment's), one thread per library as a host would set."""
    ports, servers = [_free_port(), _free_port()], []
    env = {**fresh_env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    for n, port in enumerate(ports):
        (tmp_path / f"host{n}").mkdir()
        servers.append(subprocess.Popen([sys.executable, "-m", "execnet.script.socketserver", f"127.0.0.1:{port}"],
                                        cwd=tmp_path / f"host{n}", env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
    for port in ports:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
    yield [f"--tx=socket=127.0.0.1:{p}" for p in ports]
    for server in servers:
        server.kill()
        server.wait()


def test_the_same_gradebook_from_two_processes_and_from_remote_workers(graded, two_hosts):
    """Row for row, the same verdicts from one process, -n 2, and two remote workers (the copy
    of the class they get is their own: the controller ships it; xdist's rsync is not used)."""
    mine = [{k: r[k] for k in VERDICTS} for r in graded["rows"].values()]
    env = {**fresh_env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    for label, args in (("-n 2", ["-n", "2", "--dist", "loadgroup"]), ("remote", [*two_hosts, "--dist", "loadgroup"])):
        out = graded["tmp"] / f"out-{label.strip('-').replace(' ', '')}"
        proc = grade(graded["tmp"], f"--report={out}", *args, env=env)
        assert proc.returncode == 1 and "INTERNALERROR" not in proc.stdout + proc.stderr, \
            (proc.stdout + proc.stderr)[-3000:]
        theirs = [{k: r[k] for k in VERDICTS} for r in read_gradebook(out / "gradebook.csv")]
        assert theirs == mine, label
    assert os.listdir(graded["tmp"] / "class")  # the class itself is untouched


def test_gradebook_columns_come_from_the_data_alone(graded):
    data = graded["json"]
    text = gradebook.to_csv(data)
    assert text.splitlines()[0].startswith("implementation,file,contract,contract passed,contract run,")
    assert text == (graded["tmp"] / "out" / "gradebook.csv").read_text()


def test_a_test_path_with_remote_workers_is_refused_with_the_way_to_select(tmp_path):
    """xdist sends a remote worker no path (it stopped with an INTERNALERROR): one line instead,
    before any host is reached (the port here has no server)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_domain.py"), "--impl",
                           str(ROOT / "meta_tests" / "correct" / "student.py"), "--tx", "socket=127.0.0.1:1",
                           "--dist", "loadgroup"], cwd=tmp_path, env=fresh_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 4 and "INTERNALERROR" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "with remote workers (--tx) give no test path" in proc.stderr and "select with -k 'test_domain'" in proc.stderr, \
        proc.stderr
