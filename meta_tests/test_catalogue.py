"""Proof that the suite catches bugs and passes correct code: every broken module of the catalogue
fails the check family that should catch it, with a message that points at the bug and, where
the bug has a plain name, a diagnosis that names it; correct modules written in other styles
pass the whole suite, with no bug named anywhere; unusable modules get one clear error."""
import re

import pytest

from conformance import ROOT
from meta_tests.catalogue import BUGS, Bug
from meta_tests.subprocesses import SET_BY_THIS_RUN

pytestmark = pytest.mark.selftest
ARGS = ("-p", "no:cacheprovider", "--rootdir", str(ROOT), "-c", str(ROOT / "pytest.ini"), "--report=none")
CORRECT = ["meta_tests/correct/student.py", "conformance/core/oracle.py", "meta_tests/correct/einsum_numpy.py",
           "meta_tests/correct/tutorial_nn.py", "meta_tests/correct/torch_func.py",
           "meta_tests/correct/jax_style.py", "meta_tests/correct/jax_optax.py", "meta_tests/correct/jax_scan.py", "meta_tests/correct/tf2_eager.py",
           "meta_tests/correct/keras_layers.py", "meta_tests/correct/own_autograd.py",
           "meta_tests/correct/autograd_plugin.py"]


@pytest.fixture(scope="module", autouse=True)
def helpers_loaded():
    """The suite's helpers imported once, so that the oracle's references (cached by the inputs
    they start from) serve every inner run, as they serve every implementation in one. (The
    modules under test run in workers of their own: nothing of theirs is imported here.)"""
    import conformance.core.calls  # and through it envelope, oracle, compare, diagnosis, start
    import conformance.core.diagnosis  # noqa: F401


def run_suite(pytester, module_paths, *where, isolate=False):
    """Run the suite (or the given test files) on modules; return [(nodeid, failure text)]. Isolated:
    in a fresh process, as a user starts it (default threads, no xdist worker variables)."""
    args = [*(where or [str(ROOT / "tests")]), *(f"--impl={p}" for p in module_paths), "-rf", *ARGS]
    if isolate:
        with pytest.MonkeyPatch.context() as env:
            for name in SET_BY_THIS_RUN:
                env.delenv(name, raising=False)
            result = pytester.runpytest_subprocess(*args)
        out = result.stdout.str()
        return [(m, out) for m in re.findall(r"^FAILED (\S+)", out, re.M)]
    reprec = pytester.inline_run(*args)
    return [(r.nodeid, r.longreprtext) for r in reprec.getreports("pytest_runtest_logreport") if r.failed]


def written(pytester, bug: "Bug | str"):
    """The catalogue entry (or its id) and the path of its module, written in the test's folder."""
    bug = bug if isinstance(bug, Bug) else next(b for b in BUGS if b.id == bug)
    path = pytester.path / f"{bug.id}.py"
    path.write_text(bug.text())
    return bug, path


@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_suite_catches(pytester, bug: Bug):
    bug, path = written(pytester, bug)
    where = [str(ROOT / "tests" / f"{bug.family}.py")] + (["-k", bug.select] if bug.select else [])
    # the first failing example is proof enough (shrinking: test_domain's own), and so is the first
    # failing test (-x): the rest of the family would only confirm a verdict already reached
    where += ["--shrink-budget=0", "-x", *bug.args]
    failures = run_suite(pytester, [path], *where, isolate=bug.isolate)
    assert failures, f"the suite passed the broken module {bug.id} ({bug.family} should catch it)"
    caught = [text for nodeid, text in failures if f"{bug.family}.py" in nodeid and re.search(bug.message, text)]
    assert caught, (f"{bug.id}: no failure in {bug.family} matching {bug.message!r}; failures were:\n"
                    + "\n".join(f"{n}: {t.splitlines()[0] if t else ''}" for n, t in failures[:12]))
    if bug.names:
        named = [t for t in caught if re.search(r"likely( one of)?: .*" + bug.names, t)]
        assert named, (f"{bug.id}: caught, but the diagnosis does not name it ({bug.names!r}); it says:\n"
                       + "\n".join(t.splitlines()[0] for t in caught[:4]))


# One bug for each of the domain family's fixed examples (conformance/core/strategies.py): the repeated
# structure (Adam's moments kept for the next call), its randn start (ReLU6), its given depths (an
# array refused), the long run (a schedule after 2000 steps; NumPy-integer steps; lr=1, an int) and
# the awkward inputs (negative strides refused; cfg's sizes below the arrays': rows cut to cfg.batch;
# a float32 lr in a float64 run).
FIXED_CATCH = ["adam_moments_carried_over", "relu6", "depths_array_refused", "lr_schedule_after_2000_steps",
               "negative_strides_refused", "rows_cut_to_cfg_batch", "numpy_steps_refused", "int_lr_refused",
               "adam_lr_passed_as_given"]


@pytest.mark.parametrize("bug_id", FIXED_CATCH)
def test_the_fixed_examples_alone_catch(pytester, bug_id):
    """With no drawn example at all (--max-examples=0), so whatever hypothesis would draw: an edit
    of test_domain once changed the derandomized draws, and a bug that only the draws had caught
    passed. The fixed examples are what every run is sure to try."""
    bug, path = written(pytester, bug_id)
    failures = run_suite(pytester, [path], f"{ROOT / 'tests' / 'test_domain.py'}::test_domain", "--max-examples=0",
                         "--shrink-budget=0")
    assert [n.split("::")[1] for n, _ in failures] == [f"test_domain[{bug_id}]"], failures
    assert re.search(bug.message, failures[0][1]), failures[0][1][:2000]


# Results the oracle cannot read as they are (weights transposed; float64 in a float32 run): every
# family that fails them says so in its own words, and none on an exception of the suite's own code.
MALFORMED = ["linear_weight_untransposed", "ignores_dtype"]


@pytest.mark.parametrize("bug_id", MALFORMED)
def test_a_malformed_result_fails_with_messages_never_the_suites_errors(pytester, bug_id):
    bug, path = written(pytester, bug_id)
    failures = run_suite(pytester, [path], "--shrink-budget=0")
    assert any(re.search(bug.message, t) for _, t in failures), failures
    raw = [f"{n}: {next(line for line in t.splitlines() if line.startswith('E '))}" for n, t in failures
           if re.search(r"^E\s+\w+(Error|Exception)\b", t, re.M)]
    assert not raw, "failures raised by the suite's own code, not its messages:\n" + "\n".join(raw)


COUNTED = '''

_train = train


def train(x, y, cfg):  # each call counted in a file
    with open({path!r}, "a") as f:
        f.write(".")
    return _train(x, y, cfg)
'''


def test_a_run_after_a_fixed_examples_only_run_draws_again(pytester):
    """Two runs in one process (as the self-tests' inline runs are): the second, without
    --max-examples 0, draws examples again. Its profile once fell back to the first run's and ran
    the fixed examples only."""
    counter = pytester.path / "calls.txt"
    path = pytester.path / "counted.py"
    path.write_text((ROOT / "meta_tests" / "correct" / "student.py").read_text() + COUNTED.format(path=str(counter)))
    calls = []
    for args in (["--max-examples=0"], []):
        counter.write_text("")
        failures = run_suite(pytester, [path], f"{ROOT / 'tests' / 'test_domain.py'}::test_domain", *args)
        assert not failures, failures
        calls.append(len(counter.read_text()))
    assert calls[1] > calls[0] > 0, f"train calls with the fixed examples only, then with draws too: {calls}"


# Eager TensorFlow, Keras, JAX (a jitted step per structure, a compiled scan, optax) pay the
# framework's own cost per compile and per step: without the long runs they took 30-85 s each of
# the workers' time in CI, a quarter of the self-tests. By default each runs the trajectory family
# (every structure it claims, both precisions, against the oracle: where a correct module in
# another style could be misjudged; 12-17 s alone, against 30-40 s), JAX with optax its Adam
# trajectories (optax's zero-gradient convention). The other families' framework-wide behaviour
# (hygiene, bad input, finite differences) is checked on the bundled fast_jax, tf_graph and
# fast_tf_function in the suite's own pass. --deep runs them all whole.
HEAVY = {"jax_optax": "test_trajectory and adam", "jax_style": "test_trajectory", "jax_scan": "test_trajectory",
         "keras_layers": "test_trajectory", "tf2_eager": "test_trajectory"}


def correct_cases():
    for module in CORRECT:
        name = module.rpartition("/")[2].removesuffix(".py")
        if name in HEAVY:
            yield pytest.param(module, HEAVY[name], id=f"{name}-trajectories")
            yield pytest.param(module, "", id=name, marks=pytest.mark.deep)
        else:
            yield pytest.param(module, "", id=name)


@pytest.mark.parametrize(("module", "select"), list(correct_cases()))
def test_correct_modules_in_other_styles_pass(pytester, module, select):
    """NumPy (a student's, einsum, and a learner's own autograd engine), the oracle, the tutorial's
    own nn code, torch.func, JAX (a jitted step, optax, and a compiled scan over the steps),
    TensorFlow 2 and Keras 3, each through the whole suite (the heavy ones through the trajectory
    family unless --deep): no failure, so no bug named either."""
    where = [str(ROOT / "tests"), "-k", select] if select else []
    failures = run_suite(pytester, [ROOT / module], *where)
    assert not failures, "\n".join(f"{n}: {t}" for n, t in failures)


UNUSABLE = {
    "no_train": ("CONFIG = None\n", r"defines no train\(x, y, cfg\) function"),
    "unknown_config_field": ("CONFIG = {'learning_rate': 1e-3}\ndef train(x, y, cfg): pass\n",
                             r"bad CONFIG: .*unknown field.*learning_rate"),
    "impossible_config_value": ("CONFIG = {'lr': -1}\ndef train(x, y, cfg): pass\n", r"bad CONFIG: cfg.lr must be"),
    "import_fails": ("import not_a_module_anywhere\n", r"import failed: ModuleNotFoundError"),
    "train_without_cfg": ("def train(x, y):\n    pass\n", r"train\(x, y\) cannot be called as train\(x, y, cfg\)"),
    "bad_tags": ("TAGS = 'numpy'\ndef train(x, y, cfg): pass\n", r"TAGS must be a sequence"),
}


def test_a_bundled_name_given_to_impl_says_how_to_select_it(pytester):
    result = pytester.runpytest_inprocess(str(ROOT / "tests"), "--impl", "nn_dynamic", *ARGS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no module named 'nn_dynamic' (a bundled implementation: run it with -k nn_dynamic" in result.stderr.str()


@pytest.mark.parametrize("case", UNUSABLE)
def test_unusable_module_is_one_clear_error(pytester, case):
    source, message = UNUSABLE[case]
    path = pytester.path / f"{case}.py"
    path.write_text(source)
    result = pytester.runpytest_inprocess(str(ROOT / "tests"), "--impl", str(path), *ARGS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert re.search(f"{case}.py: {message}", err), err
    assert "Traceback" not in err


ONE_REASON = {  # a module that cannot run its own cell: one failure that says what to fix, nothing else
    "no_config_for_its_cell": (
        open(ROOT / "meta_tests" / "correct" / "student.py").read().replace(
            'CONFIG = {"data": "uniform", "bias": True, "loss": "mean", "lr": 1e-2}', "CONFIG = None"),
        r"refuses its own cell .*it has no CONFIG.*Fix: set CONFIG to the cell it implements, e.g. CONFIG = "
        r"\{'bias': True, 'loss': 'mean'\}"),
    "no_grads_in_result": ("import numpy as np\ndef train(x, y, cfg):\n    return {'losses': np.zeros(cfg.steps)}\n",
                           r"train returned a result without \['init', 'params', 'grads'\]"),
}


@pytest.mark.parametrize("case", ONE_REASON)
def test_a_module_that_cannot_run_its_cell_gets_one_line(pytester, case):
    source, message = ONE_REASON[case]
    path = pytester.path / f"{case}.py"
    path.write_text(source)
    failures = run_suite(pytester, [path])
    assert [n.split("::")[1] for n, _ in failures] == [f"test_own_cell_runs[{case}]"], failures
    assert re.search(message, failures[0][1]), failures[0][1]


ONCE_WRONG = '''

_train, _trained = train, [0]


def train(x, y, cfg):  # wrong once, on the 12th call that trains (a drawn example's: the fixed ones and
    out = _train(x, y, cfg)  # the probe make ten): its result depends on the calls before it
    if cfg.steps:
        _trained[0] += 1
        if _trained[0] == 12:
            out["losses"] = np.asarray(out["losses"]) * 1.5
    return out
'''


def test_a_result_that_depends_on_earlier_calls_is_named(pytester):
    """An example that fails once and passes when hypothesis replays it is not a flaky suite: the
    failure says that the calls before it decided the result."""
    path = pytester.path / "once_wrong.py"
    path.write_text((ROOT / "meta_tests" / "correct" / "student.py").read_text() + ONCE_WRONG)
    failures = run_suite(pytester, [path], str(ROOT / "tests" / "test_domain.py"))
    assert [n.split("::")[1] for n, _ in failures] == ["test_domain[once_wrong]"], failures
    text = failures[0][1]
    assert re.search(r"failed and then passed when run again in the same process: the result depends on calls "
                     r"made before it .* The first failure: loss at step 0 is", text), text[-3000:]
