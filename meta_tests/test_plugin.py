"""The plugin, run as users run it: from another directory, under -k, -n 2 and in random order.

Each test but the last starts pytest in a subprocess, as `.venv/bin/pytest` after the README's set-up."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import ROOT, budgets
from meta_tests.catalogue import BUGS
from meta_tests.subprocesses import fresh_env, pytest_cmd

pytestmark = pytest.mark.selftest
STUDENT = ROOT / "meta_tests" / "correct" / "student.py"


def pytest_in(cwd, *args, timeout=600):
    return subprocess.run(pytest_cmd(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=fresh_env())


def test_another_projects_run_is_left_alone(tmp_path):
    """The plugin is installed in the environment: a pytest run that is not the suite's gets no Suite
    (no header, no implementations loaded, no matrix, its own test ids)."""
    (tmp_path / "test_theirs.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    proc = pytest_in(tmp_path, "-v")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "test_theirs.py::test_one PASSED" in proc.stdout, proc.stdout
    assert "implementations:" not in proc.stdout and "= conformance =" not in proc.stdout, proc.stdout


@pytest.mark.parametrize("form", ["--impl PATH", "--impl=PATH"])
def test_a_plug_in_runs_from_any_directory(tmp_path, form):
    flag = ["--impl", STUDENT] if form == "--impl PATH" else [f"--impl={STUDENT}"]
    proc = pytest_in(tmp_path, *flag, "-k", "contract or hygiene", "--report=none")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"^student +pass +pass +conforms \(2 of 7 families run\)$", proc.stdout, re.M), proc.stdout[-2000:]
    assert "unrecognized arguments" not in proc.stderr
    # the header asks only the frameworks the plug-in uses about GPUs (none: torch is not imported)
    assert "devices: cpu; no GPU: NumPy runs on the CPU only" in proc.stdout, proc.stdout[:2000]


def test_a_plug_in_imports_its_own_modules(tmp_path):
    """A plug-in that imports a module of its own beside it, as `python mine.py` would, also under -n 2."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "helpers.py").write_text("import numpy as np\n\n\ndef relu(a):\n    return np.where(a > 0, a, 0)\n")
    text = STUDENT.read_text().replace("        r = np.where(a > 0, a, 0)\n", "        r = relu(a)\n")
    (mine / "student.py").write_text(text.replace("import numpy as np\n", "import numpy as np\nfrom helpers import relu\n", 1))
    proc = pytest_in(tmp_path, f"--impl={mine / 'student.py'}", "-k", "contract", "--report=none", "-n", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"^student +pass +conforms \(1 of 7 families run\)$", proc.stdout, re.M), proc.stdout[-2000:]


def test_a_file_in_a_package_imports_relatively(tmp_path):
    """A file given by path inside a package (named tests/, as the suite's own package is) that
    imports its helper relatively (`from .helpers import relu`): it loads, as under `python -m`, and
    the library the helper imports (scipy.special adds a warning filter) is not blamed on it."""
    mine = tmp_path / "project" / "tests"
    mine.mkdir(parents=True)
    (tmp_path / "project" / "__init__.py").write_text("")
    (mine / "__init__.py").write_text("")
    (mine / "helpers.py").write_text("import numpy as np\nimport scipy.special  # noqa\n\n\n"
                                     "def relu(a):\n    return np.where(a > 0, a, 0)\n")
    text = STUDENT.read_text().replace("        r = np.where(a > 0, a, 0)\n", "        r = relu(a)\n")
    (mine / "student.py").write_text(text.replace("import numpy as np\n", "import numpy as np\n\nfrom .helpers import relu\n", 1))
    proc = pytest_in(tmp_path, f"--impl={mine / 'student.py'}", "-k", "contract or hygiene", "--report=none")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"^student +pass +pass +conforms \(2 of 7 families run\)$", proc.stdout, re.M), proc.stdout[-2000:]


def test_a_plug_in_by_dotted_name_from_its_directory(tmp_path):
    """--impl mypkg.mine from the folder that holds mypkg/, under .venv/bin/pytest (which puts only
    its own folder on sys.path) and under -n 2."""
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "mine.py").write_text(STUDENT.read_text())
    proc = subprocess.run([str(Path(sys.executable).with_name("pytest")), "-p", "no:cacheprovider", "--impl", "mypkg.mine",
                           "-k", "contract", "--report=none", "-n", "2"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env=fresh_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"^mine +pass +conforms \(1 of 7 families run\)$", proc.stdout, re.M), proc.stdout[-2000:]


def test_files_of_one_name_in_two_folders(tmp_path):
    """A teacher's run over solution.py files from two students: the rows are told apart by folder,
    and a failure's reproduce command runs that one file alone, under the name it then has."""
    for who in ("alice", "bob"):
        (tmp_path / who).mkdir()
    (tmp_path / "alice" / "solution.py").write_text(STUDENT.read_text())
    (tmp_path / "bob" / "solution.py").write_text(STUDENT.read_text().replace(
        "    if len(x) != len(y):\n        raise ValueError(\"x and y have different numbers of rows\")\n", ""))
    proc = pytest_in(tmp_path, "--impl", "alice/solution.py", "--impl", "bob/solution.py", "-k", "bad_input",
                     "--report=none")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"^alice/solution +pass +conforms", proc.stdout, re.M), proc.stdout[-2000:]
    assert re.search(r"^bob/solution +FAIL 1/\d+ +FAILS", proc.stdout, re.M), proc.stdout[-2000:]
    again = re.search(r"^ +(\S+) -m pytest (\S+) --impl=bob/solution.py$", proc.stdout, re.M)
    assert again and "[solution-mismatched_N]" in again.group(2), proc.stdout[-2000:]
    proc = pytest_in(tmp_path, again.group(2).strip("'"), "--impl=bob/solution.py", "--report=none")
    assert proc.returncode == 1 and "1 failed" in proc.stdout, proc.stdout[-2000:]


def test_a_script_that_exits_at_import_or_in_train(tmp_path):
    """Script code at the top (argparse on pytest's own arguments) stops the run with one line that
    says what to do; sys.exit inside train fails that call, where it used to end the whole run."""
    (tmp_path / "script.py").write_text("import argparse\n\nargs = argparse.ArgumentParser().parse_args()\n\n\n"
                                        "def train(x, y, cfg):\n    pass\n")
    proc = pytest_in(tmp_path, "--impl=script.py", "--report=none")
    assert proc.returncode != 0 and "importing it called sys.exit(2): put the code a script runs under if __name__" \
        in proc.stdout + proc.stderr, proc.stdout[-2000:] + proc.stderr[-2000:]
    (tmp_path / "quits.py").write_text(STUDENT.read_text().replace("def train(x, y, cfg):\n", "def train(x, y, cfg):\n"
                                                                   "    raise SystemExit('done')\n", 1))
    proc = pytest_in(tmp_path, "--impl=quits.py", "-k", "contract", "--report=none")
    assert proc.returncode == 1 and "INTERNALERROR" not in proc.stdout + proc.stderr, proc.stdout[-3000:]
    assert "train called sys.exit('done'); raise an exception instead (at quits.py:" in proc.stdout, proc.stdout[-3000:]


def test_an_error_in_train_is_placed_at_the_modules_line(tmp_path):
    """An exception raised inside a library call in train (no frame of its own) is placed at the
    module's line that made the call, not at the suite's line that received it from the worker."""
    text = STUDENT.read_text().replace("def train(x, y, cfg):\n", "def train(x, y, cfg):\n"
                                       "    if cfg.steps > 1:  # past the one-step probe\n"
                                       "        np.ones((2, 3)) @ np.ones((4, 5))\n", 1)
    (tmp_path / "raises.py").write_text(text)
    line = text.splitlines().index("        np.ones((2, 3)) @ np.ones((4, 5))") + 1
    proc = pytest_in(tmp_path, "--impl=raises.py", "-k", "contract", "--report=none")
    placed = rf"raises · contract: ValueError: matmul: .* \(at raises.py:{line}\)( \(\+\d+ more\))?$"
    assert re.search(placed, proc.stdout, re.M), proc.stdout[-3000:]


def test_torch_compile_as_a_decorator_is_not_blamed(tmp_path):
    """torch.compile's first use raises the recursion limit and sets an environment variable: the
    framework's doing, warmed up before the baseline also when the module writes @torch.compile."""
    text = (ROOT / "implementations" / "fast_torch_compile.py").read_text()
    for old, new in (("def step(", "@torch.compile\ndef compiled_step("),
                     ("compiled_step = torch.compile(step, fullgraph=True, dynamic=True)", "")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (tmp_path / "compiled.py").write_text(text)  # fast_torch_compile, its step under the decorator
    proc = pytest_in(tmp_path, "--impl=compiled.py", "-k", "hygiene and not fresh_process", "--report=none")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_a_library_is_not_blamed_on_the_plug_in(tmp_path):
    """scipy.special adds a warning filter when it is first imported: the library's doing, not the
    plug-in's, whether imported at the top or inside train (the suite imports the libraries a
    plug-in names before it watches it); a module of its own beside it that changes state is."""
    added = subprocess.run([sys.executable, "-c", "import warnings; n = len(warnings.filters); import scipy.special; "
                            "print(len(warnings.filters) - n)"], capture_output=True, text=True, env=fresh_env())
    assert int(added.stdout) > 0, added.stderr  # else this test proves nothing
    text = STUDENT.read_text()
    (tmp_path / "student.py").write_text(text.replace(
        "import numpy as np\n", "import numpy as np\nfrom scipy.special import expit  # noqa: F401\n", 1).replace(
        "def train(x, y, cfg):\n", "def train(x, y, cfg):\n    import scipy.optimize  # noqa: F401\n", 1))
    proc = pytest_in(tmp_path, f"--impl={tmp_path / 'student.py'}", "-k", "hygiene", "--report=none")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    (tmp_path / "helpers.py").write_text("import numpy as np\n\nnp.set_printoptions(precision=3)\n")
    (tmp_path / "student.py").write_text(text.replace("import numpy as np\n", "import numpy as np\nimport helpers  # noqa\n", 1))
    proc = pytest_in(tmp_path, f"--impl={tmp_path / 'student.py'}", "-k", "hygiene", "--report=none")
    assert proc.returncode == 1 and "importing" in proc.stdout and "numpy print options" in proc.stdout, proc.stdout[-3000:]


def test_the_deep_profile_and_a_seed_run(tmp_path):
    """--hypothesis-profile=deep (the README's deeper profile, registered before hypothesis' own
    plugin loads it) with --max-examples over it, and a seed, under xdist (its controller and
    workers alike; without the registration both stopped with an INTERNALERROR)."""
    proc = pytest_in(tmp_path, f"--impl={STUDENT}", "-k", "test_domain", "--hypothesis-profile=deep",
                     "--max-examples=2", "--hypothesis-seed=7", "--report=none", "-n", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"^student +pass +conforms \(1 of 7 families run\)$", proc.stdout, re.M), proc.stdout[-2000:]


def test_selection_by_keyword_without_xdist_and_the_timings_alone():
    """-k autograd selects the modules tagged so; under -p no:xdist (the README's way to one
    process) the tests' xdist groups stay known markers; --benchmark-only collects the timings
    alone. One collection serves all three (each costs 8-19 s of framework imports)."""
    proc = pytest_in(ROOT, "tests", "-p", "no:xdist", "--collect-only", "-q", "-k", "autograd", "--benchmark-only")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    tests = [line for line in proc.stdout.splitlines() if "::" in line]
    ids = {re.search(r"\[([a-z_0-9]+)", t)[1] for t in tests}
    assert ids == {"torch_autograd", "torch_function", "tf_graph"}, ids
    gpu = [t for t in tests if t.startswith("tests/test_speed.py::test_tutorial_cell_on_gpu[")]
    assert all(t.startswith("tests/test_speed.py::test_tutorial_cell[") for t in tests if t not in gpu), tests[:5]
    # the passes are spread over the run: every implementation's first pass before any second one,
    # and within a pass every implementation at one thread budget before the next budget, the GPU's last
    order = [budgets.name(c).replace(" ", "") for c in budgets.budgets()]
    keys = [re.search(r"-pass(\d+)(?:-(\w+))?\]$", t).groups() for t in tests]
    keys = [(int(p), order.index(b) if b else len(order)) for p, b in keys]
    assert keys == sorted(keys) and len({p for p, _ in keys}) > 1, tests
    first = [k for k in keys if k[0] == 1]
    assert len(first) == len(ids) * (len(order) + 1) and len(tests) == len(first) * len({p for p, _ in keys}), tests


def matrix(data) -> dict:
    return {i["name"]: (i["verdict"], {f: (c["status"], c["fail"]) for f, c in i["cells"].items()})
            for i in data["implementations"]}


def test_the_same_matrix_in_random_order_and_under_xdist(tmp_path):
    """A correct module, the tutorial's own nn code (a note), and three that leak process-wide state,
    one of them for good (eager mode off: no setter puts it back): the matrix must not depend on the
    order the tests run in, nor on the worker they run on, and no other module is blamed."""
    leaky = [b for b in BUGS if b.id in ("sets_matmul_precision", "silences_warnings", "eager_off_globally")]
    mods = [STUDENT, ROOT / "meta_tests" / "correct" / "tutorial_nn.py"]
    for bug in leaky:
        path = tmp_path / f"{bug.id}.py"
        path.write_text(bug.text())
        mods.append(path)
    # the fresh-process check left out: its own spawned interpreter per process adds 10 s and no ordering
    base = ["tests", *(f"--impl={m}" for m in mods), "-k", "hygiene and not fresh_process"]
    runs = {}  # a shuffled order in one process, and the tests spread over two workers (each its own order)
    for name, extra in (("random", ["-p", "random_order", "--random-order-seed=20261129"]), ("xdist", ["-n", "2"])):
        proc = pytest_in(ROOT, *base, *extra, f"--report={tmp_path / name}")
        assert proc.returncode == 1, proc.stdout[-3000:]
        runs[name] = matrix(json.loads((tmp_path / name / "conformance.json").read_text()))
    assert runs["random"] == runs["xdist"], runs
    assert runs["random"]["sets_matmul_precision"][1]["hygiene"][0] == "fail"
    assert runs["random"]["silences_warnings"][1]["hygiene"][0] == "fail"
    assert runs["random"]["eager_off_globally"][1]["hygiene"][0] == "fail"
    assert runs["random"]["tutorial_nn"][0].startswith("conforms")
    assert runs["random"]["student"][0].startswith("conforms")


def test_notes_say_what_draws_from_a_global_generator(tmp_path):
    """Each note names the generator drawn from and the way to leave it alone in that framework."""
    correct = ROOT / "meta_tests" / "correct"
    proc = pytest_in(ROOT, "tests/test_hygiene.py", "-k", "global_generators", f"--impl={correct / 'tutorial_nn.py'}",
                     f"--impl={correct / 'keras_layers.py'}", f"--report={tmp_path}")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"^tutorial_nn +pass\* ", proc.stdout, re.M), proc.stdout[-2000:]
    assert re.search(r"^\* tutorial_nn · hygiene: draws from the torch global generator .*nn.utils.skip_init",
                     proc.stdout, re.M), proc.stdout[-2000:]
    assert re.search(r"^\* keras_layers · hygiene: draws from the python random .*Keras layer.*seed=cfg.seed",
                     proc.stdout, re.M), proc.stdout[-2000:]
    assert "nn.Linear" not in re.search(r"^\* keras_layers .*", proc.stdout, re.M).group(0)
    cell = json.loads((tmp_path / "conformance.json").read_text())["implementations"][0]["cells"]["hygiene"]
    assert cell["status"] == "pass" and any("torch global generator" in n for n in cell["notes"])


def test_an_init_drawn_in_the_default_dtype_is_a_note(tmp_path):
    """The tutorial's nn code keeping nn.Linear's own init (seeded under fork_rng, so no global
    generator is seeded) draws it in torch's default dtype and casts it: under a caller's float64
    default the same seed gives another start. A note, not a failure: from a given init the
    result is the same under either default."""
    text = (ROOT / "meta_tests" / "correct" / "tutorial_nn.py").read_text()
    for old, new in (
            ("    if cfg.model == \"two_layer\":\n",
             "    with torch.random.fork_rng():\n      torch.manual_seed(cfg.seed)\n      if cfg.model == \"two_layer\":\n"),
            ("    else:\n        model = DynamicNet", "      else:\n        model = DynamicNet"),
            ("    p = start(cfg, shapes, \"linear\")\n", "    p = start(cfg, shapes, \"linear\") if cfg.init is not None else None\n"),
            ("        for suffix, layer in layers.items():\n            layer.weight.copy_",
             "        for suffix, layer in (layers.items() if p is not None else ()):\n            layer.weight.copy_"),
            ("    losses, grads = [], None\n", "    drawn = canonical(\"data\") if p is None else None\n    losses, grads = [], None\n"),
            ("init={k: v.copy() for k, v in p.items()}", "init=drawn if p is None else {k: v.copy() for k, v in p.items()}")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (tmp_path / "nn_default_init.py").write_text(text)
    proc = pytest_in(tmp_path, "-k", "process_defaults or contract", f"--impl={tmp_path / 'nn_default_init.py'}",
                     "--report=none")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"^\* nn_default_init · hygiene: the init it draws from cfg.seed changes with torch's default "
                     r"dtype", proc.stdout, re.M), proc.stdout[-2000:]


def test_a_lone_plug_in_is_run_after_others(tmp_path):
    """The order-independence check of a lone plug-in runs the oracle and a bundled module that
    shares its framework in between, and a failure names them."""
    bug = next(b for b in BUGS if b.id == "adam_moments_carried_over")
    path = tmp_path / "carries.py"
    path.write_text(bug.text().replace('CONFIG = {"model": "dynamic", "data": "uniform", "bias": True, "loss": "mean", '
                                       '"lr": 1e-2}', 'CONFIG = {"optimizer": "adam", "lr": 1e-3}'))
    proc = pytest_in(ROOT, "tests/test_hygiene.py", f"--impl={path}", "-k", "other_calls", "--report=none")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert re.search(r"the same inputs gave a different .* after oracle, numpy_manual and two calls of carries",
                     proc.stdout), proc.stdout[-3000:]


def test_under_loadgroup_each_implementation_runs_in_one_worker(tmp_path):
    """`./run suite`'s -n 2 --dist loadgroup: every check of an implementation goes to one worker,
    which starts its module once (pytest 9.2 reads the group only where pytest_private writes it:
    pytest-xdist#1386). The controller reads the modules, it does not import them; a plug-in named
    alone that cannot be imported still stops the run with one line, before any worker starts."""
    mods = [STUDENT, ROOT / "meta_tests" / "correct" / "einsum_numpy.py"]
    proc = pytest_in(tmp_path, *(f"--impl={m}" for m in mods), "-n", "2", "--dist", "loadgroup", "-v",
                     "-k", "contract or bad_input", "--report=none")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    workers = {}
    # (run from elsewhere, pytest 9.2 shows the id re-parsed: `[student-x_rank_1]@student]`)
    for worker, group in re.findall(r"^\[(gw\d)\] .*::\S+\[\S+\]@([^\s\]]+)\]?\s*$", proc.stdout, re.M):
        workers.setdefault(group, set()).add(worker)
    assert {g: len(w) for g, w in workers.items()} == {"student": 1, "einsum_numpy": 1}, proc.stdout[-3000:]
    assert "implementations: student (nn numpy), einsum_numpy (numpy)" in proc.stdout, proc.stdout[:2000]
    (tmp_path / "boom.py").write_text("raise RuntimeError('boom at import')\n\n\ndef train(x, y, cfg):\n    pass\n")
    proc = pytest_in(tmp_path, "--impl=boom.py", "-n", "2", "--report=none")
    assert proc.returncode == 4 and "cannot use implementation boom.py: import failed: RuntimeError: boom at " \
        "import" in proc.stdout + proc.stderr and "crashed" not in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("installed, reason", [
    ({"torch": "2.13.0+cpu", "tensorflow-cpu": "2.21.0", "jax": "0.10.2", "jaxlib": "0.10.2"},
     "no GPU: torch 2.13.0+cpu is a CPU-only build; tensorflow-cpu 2.21.0 has no GPU support; jax 0.10.2 sees only "
     "CPU devices (a CPU build of jaxlib, no GPU plugin)"),
    ({"torch": "2.13.0", "tensorflow-cpu": "2.21.0", "jax": "0.10.2", "jaxlib": "0.10.2"}, None),  # CUDA or a Mac's
    ({"torch": "2.13.0+cpu", "tensorflow": "2.21.0", "jax": "0.10.2", "jaxlib": "0.10.2"}, None),
    ({"torch": "2.13.0+cpu", "tensorflow-cpu": "2.21.0", "jax": "0.10.2", "jaxlib": "0.10.2",
      "jax-cuda12-plugin": "0.10.2"}, None),
])
def test_the_installed_builds_answer_the_gpu_question_only_when_they_decide_it(monkeypatch, installed, reason):
    """The header's devices line without importing a framework where the builds settle it; where one
    build could use a GPU (None), a worker asks the framework itself."""
    from types import SimpleNamespace

    from conformance import devices

    def version(dist):
        if dist not in installed:
            raise devices.metadata.PackageNotFoundError(dist)
        return installed[dist]

    monkeypatch.setattr(devices.metadata, "version", version)
    monkeypatch.setattr(devices.metadata, "distributions",
                        lambda: [SimpleNamespace(metadata={"Name": n}) for n in installed])
    assert devices.builds_reason({"torch", "tensorflow", "jax"}) == reason
    assert devices.builds_reason(set()) == "no GPU: NumPy runs on the CPU only"


INLINE_RUNS = f'''
import os, pathlib

def test_three_inline_runs(pytester):
    for _ in range(3):
        pytester.inline_run({str(ROOT / "tests" / "test_contract.py")!r}, "-k", "result_layout", "--impl={STUDENT}",
                            "-p", "no:cacheprovider", "--report=none")
    servers = [p for p in pathlib.Path("/proc").iterdir() if p.name.isdigit()
               and (p / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(os.getpid())
               and b"forkserver" in (p / "cmdline").read_bytes()]
    assert len(servers) == 1, f"{{len(servers)}} fork servers after three inline runs"
'''


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts processes in /proc (Linux)")
def test_inline_runs_in_one_process_share_one_fork_server(tmp_path):
    """The self-tests run the suite inline (pytester), many times in one process: each run once
    started a fork server of its own (450 MB each, the frameworks preloaded) and left it running,
    until the catalogue alone filled the machine's memory."""
    (tmp_path / "test_inline.py").write_text(INLINE_RUNS)
    proc = pytest_in(tmp_path, "-p", "pytester", "-p", "no:cacheprovider", "test_inline.py")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
