"""The conformance suite's pytest plugin (the `conformance` pytest11 entry point).

At module level: the options, the hypothesis profiles, and the hooks every pytest run in this
environment calls: the ini an `--impl` run started elsewhere takes, and whether the run is the
suite's. A run that is gets a Suite, the session object that owns it: the implementations under
test, the checks parametrised over them and over the structures each computes, what does not apply
deselected with its reason (selection.py), the report header, and the teardown that says what
process-wide state a test left changed. Any other pytest run is left alone.
"""
import os
import time
from importlib import metadata

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, before any import

import pytest

from conformance import HOME, INSTALLED, ROOT, SUITE, isolation, pytest_private, remote, selection
from conformance.keys import DESELECTED, IMPLS, NOT_IMPLEMENTATIONS, STARTED, THREADS
from conformance.submissions import Entry, SpecError, expand
from conformance.impl import STRUCTURES, structure_id, structure_of
from conformance.imports import frameworks_of
from conformance.loading import ORACLE, bundled_specs, declared, distinct_names, is_implementation, load, locate
from conformance.pool import GPU_FRAMEWORKS, gpu_missing_reason, stop_all
from conformance.replies import ImplError
from conformance import report as report_hooks
from conformance.report import Reporter, leak_reason, reproduce
from conformance.results import Prop

DEFAULT_EXAMPLES = 6

MARKERS = {
    "selftest": "checks of the suite itself (meta_tests/); deselected under --impl",
    "dynamic_only": "a check that applies only to implementations that compute model='dynamic'",
    "cuda": "needs a GPU visible to the implementation's framework",
    "speed": "timings (pytest-benchmark); they run only under --benchmark-only",
    "sweep": "timings over growing sizes; they run only with --benchmark-sweep",
    "serial": "a self-test that times things: left out under -n (./run tests runs it afterwards, alone)",
    "own_cell": "the one check that runs when an implementation's own cell does not (it says why)",
    "replay": "runs the domain family on the --replay example only",
}
FRAMEWORK_MODULES = {"torch": "torch._dynamo", "tensorflow": "tensorflow", "keras": "keras", "jax": "jax"}  # preloaded
FILTERS = (  # warnings of the libraries' own that say nothing about the code under test
    "ignore:Benchmarks are automatically disabled because xdist plugin is active",
    "ignore::DeprecationWarning:tensorflow.*",
    "ignore::DeprecationWarning:keras.*",
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning",
)
TAG_WORDS = ("warmup", "autograd", "nn", "fast", "numpy", "torch", "tensorflow", "jax", "reference")


def pytest_addoption(parser):
    group = parser.getgroup("conformance", "the two-layer net conformance suite")
    group.addoption("--impl", action="append", default=[], metavar="PATH|MODULE",
                    help="verify this implementation instead of the bundled ones: a .py file, a notebook "
                         "(.ipynb), a dotted module name, a folder (every .py file and notebook in it that "
                         "defines train) or a quoted pattern ('subs/*.py'); repeatable. Default: every module "
                         "in implementations/.")
    group.addoption("--max-examples", type=int, default=None, metavar="N",
                    help="examples drawn per implementation for the domain family (hypothesis), besides its "
                         "three fixed ones; 0: the fixed ones only. Default: "
                         f"{DEFAULT_EXAMPLES}, or the --hypothesis-profile's own (deep: 200).")
    group.addoption("--shrink-budget", type=int, default=None, metavar="N",
                    help="after the domain family's first failure, run at most N more examples to shrink it "
                         "(0: report the first failing example as drawn). Default: 24, or no bound under "
                         "--hypothesis-profile=deep.")
    group.addoption("--replay", default=None, metavar="EXAMPLE",
                    help="run the domain family on exactly this example (the JSON a failure prints) instead of "
                         "drawing examples. Default: draw them.")
    group.addoption("--report", metavar="DIR", default=None,
                    help="write conformance.html, conformance.json, loss_curves.png and trajectory_error.png "
                         "into DIR. Default: reports/ in the repository. --report=none writes nothing.")
    group.addoption("--gradescope", metavar="FILE", default=None,
                    help="also write Gradescope's results.json for the one implementation verified (a test per "
                         "check family, worth 1 each; docs/grading.md). Default: not written.")
    group.addoption("--progress", choices=("auto", "on", "off"), default="auto",
                    help="one live line instead of pytest's dots: tests done, implementation, family, the "
                         "latest run's last step and loss. Default: auto (on for a terminal; off when the "
                         "output is not a terminal, as in CI logs, and under -v or -n).")
    group.addoption("--call-timeout", type=float, default=isolation.DEFAULT_TIMEOUT, metavar="SECONDS",
                    help="a call of train (or the module's import) that has not answered after this long is a "
                         f"TIMEOUT: its worker is killed and the next check starts a new one. Default: "
                         f"{isolation.DEFAULT_TIMEOUT:g}.")
    group.addoption("--memory-limit", type=float, default=isolation.DEFAULT_MEMORY_GB, metavar="GIB",
                    help="a worker whose resident memory passes this is killed: a CRASH that says so (the "
                         "frameworks' large virtual reservations do not count). Default: "
                         f"{isolation.DEFAULT_MEMORY_GB:g}.")
    group.addoption("--benchmark-sweep", action="store_true", default=False,
                    help="with --benchmark-only, also time every implementation at sizes N = D_in = H = D_out "
                         "= 1 ... 2048 and draw speed_sweep.png. Default: off (the tutorial cells only).")
    _register_profiles()


def active(config) -> bool:
    """Whether this run is the suite's (any other pytest run in this environment is left alone)."""
    return bool(config.getoption("impl", None)) or (config.rootpath == ROOT and not INSTALLED)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """`pytest --impl /elsewhere/mine.py`, from any directory: pytest found its rootdir and ini
    from that path before it knew --impl takes a value; take the suite's instead."""
    early_config.stash[STARTED] = time.perf_counter()
    ns = early_config.known_args_namespace
    if not getattr(ns, "impl", None) or early_config.inipath == ROOT / "pytest.ini" or ns.rootdir or ns.inifilename:
        return
    if INSTALLED:  # from a wheel: no ini, and the installed package as rootdir
        pytest_private.take_ini(early_config, None, SUITE.parent, ns)
    else:
        pytest_private.take_ini(early_config, ROOT / "pytest.ini", ROOT, ns)


def _distributing(config) -> bool:
    """Whether this process is the controller of an xdist run (it runs no test itself), as xdist
    decides it in its own pytest_configure."""
    return (not hasattr(config, "workerinput") and config.getoption("dist", "no") != "no"
            and bool(config.getoption("tx", None)) and not config.getoption("collectonly"))


def _self_tests_only(config) -> bool:
    """Whether every path the run was given lies in meta_tests/: then no check of the suite runs
    in this process, and the bundled implementations are not loaded (their workers, for nothing)."""
    meta = ROOT / "meta_tests"
    paths = [(config.invocation_params.dir / a.split("::")[0]).resolve() for a in config.args]
    return bool(paths) and all(p == meta or meta in p.parents for p in paths)


def pytest_configure(config):
    if active(config):
        config.pluginmanager.register(Suite(config), "conformance-suite")


class Quiet:
    """Header lines a user did not ask for, left out: pytest-random-order's 'NOT enabled' (it is
    off unless asked for), pytest-benchmark's defaults (unless timing)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_report_header(self, config):
        lines = yield
        timing = config.getoption("benchmark_only", False)
        return [line for line in lines if not (isinstance(line, str) and (
            line.startswith("Test order randomisation NOT enabled") or (line.startswith("benchmark:") and not timing)))]


def _register_profiles():
    """The domain family's hypothesis profiles: derandomized by default, so CI and the main job
    give the same verdict every time; --hypothesis-seed draws from that seed instead;
    --hypothesis-profile=deep explores more. Registered as soon as the plugin is (from
    pytest_addoption): hypothesis' own pytest_configure loads the profile that
    --hypothesis-profile names, and fails on one that is not registered yet."""
    from hypothesis import HealthCheck, settings
    from hypothesis.database import DirectoryBasedExampleDatabase

    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    # On hypothesis' own defaults, not on whatever profile is loaded now: a settings object without a
    # parent falls back to the current default, so that a second run in one process (the self-tests'
    # inline runs) inherited the first one's --max-examples 0 (the fixed examples only) and drew nothing.
    base = settings.get_profile("default")
    settings.register_profile("conformance", parent=base, derandomize=True, database=None, deadline=None,
                              max_examples=DEFAULT_EXAMPLES, suppress_health_check=quiet, print_blob=False,
                              report_multiple_bugs=False)
    settings.register_profile("conformance-seeded", parent=settings.get_profile("conformance"), derandomize=False)
    settings.register_profile("deep", parent=base, derandomize=False, deadline=None, max_examples=200,
                              suppress_health_check=quiet, report_multiple_bugs=False,
                              database=DirectoryBasedExampleDatabase(str(HOME / ".hypothesis" / "examples")))


def _marks(impl):
    """Its TAGS (for -m), and its xdist group: under --dist loadgroup one worker runs every check of
    an implementation (its worker process, with its compiled code, serves them all); a group per
    implementation, not per tutorial cell, so that the work spreads evenly (nine of the bundled
    implementations share the warm-up cell)."""
    return [getattr(pytest.mark, t) for t in impl.tags] + [pytest.mark.xdist_group(impl.name.replace("@", "_"))]


@pytest.fixture(scope="session")
def bystanders(request):
    """others(impl): implementations to run in between two calls of impl: the oracle, and for each
    framework impl uses, another implementation under test that uses it (for a lone plug-in, a
    bundled one: read from the sources, loaded only if chosen)."""
    impls = request.config.stash[IMPLS]
    loaded = {}

    def get(spec):  # what it declares; it runs in the worker of the implementation it stands beside
        if spec not in loaded:
            loaded[spec] = load(spec, keep=False)
        return loaded[spec]

    def others(impl):
        chosen = [get(str(ORACLE))]
        for framework in sorted(f for f in impl.frameworks if "." not in f):
            run = [i for i in impls if i is not impl and framework in i.frameworks and i not in chosen]
            if run:
                chosen.append(run[0])
                continue
            spec = next((s for s in bundled_specs() if is_implementation(s)
                         and framework in frameworks_of(locate(s)[0])), None)
            if spec is not None and get(spec).name != impl.name and get(spec) not in chosen:
                chosen.append(get(spec))
        return chosen

    return others


class Suite:
    """A run of the suite (registered only then, as the session object that owns the run): the
    implementations under test, loaded from --impl or implementations/, and the run's hooks."""

    def __init__(self, config):
        for name, text in MARKERS.items():
            config.addinivalue_line("markers", f"{name}: {text}")
        for word in TAG_WORDS:
            config.addinivalue_line("markers", f"{word}: implementations tagged {word!r} in their TAGS")
        for line in FILTERS:
            config.addinivalue_line("filterwarnings", line)
        if not config.pluginmanager.hasplugin("xdist"):  # -p no:xdist: the groups still mark the tests
            config.addinivalue_line("markers", "xdist_group(name): tests that pytest-xdist runs in one worker")
        if config.args_source == pytest.Config.ArgsSource.INVOCATION_DIR and config.invocation_params.dir != ROOT:
            config.args = [str(SUITE)]  # run from elsewhere: the suite, wherever it was started
        if not config.pluginmanager.is_registered(report_hooks):
            config.pluginmanager.register(report_hooks, "conformance-report-hooks")  # repro lines, in xdist workers too
        if not config.pluginmanager.has_plugin("conformance-quiet"):
            config.pluginmanager.register(Quiet(), "conformance-quiet")
        if not config.pluginmanager.has_plugin("pytester"):
            config.pluginmanager.import_plugin("pytester")  # the catalogue's self-test runs the suite inside the suite
        if config.getoption("benchmark_only", False) and getattr(config.option, "numprocesses", None):
            # said before any implementation is loaded (that imports its frameworks: 5 s for the bundled ones)
            raise pytest.UsageError("benchmarks need one process: run --benchmark-only without -n "
                                    "(pytest-xdist workers would share the cores and skew every timing)")
        if config.getoption("benchmark_only", False):
            from conformance import budgets

            config.stash[THREADS] = budgets.described()
        isolation.LIMITS.update(timeout=config.getoption("call_timeout"), memory_gb=config.getoption("memory_limit"))
        if not hasattr(config, "workerinput") and remote.remote(config):
            remote.refuse_test_paths(config)
            remote.one_argument_each(config)  # before xdist's controller reads the command line it sends
        specs = config.getoption("impl")
        shipped = getattr(config, "workerinput", {}).get(remote.KEY)
        if shipped:  # a remote worker: the controller sent the submissions' files
            here = remote.unpack(shipped)
            specs = [here.get(s, s) for s in specs]
        try:
            found = expand(specs)
            bundled = [] if found.entries else [Entry(s) for s in bundled_specs() if is_implementation(s)]
            # self-tests alone load none, but their inner runs' workers fork with the frameworks imported
            entries = found.entries or ([] if not specs and _self_tests_only(config) else bundled)
            if config.getoption("gradescope") and len(entries) != 1:
                raise SpecError(f"--gradescope grades one submission, but --impl names {len(entries)} implementations: "
                                "run each submission on its own (its gradebook.csv row says the same)")
            # A plug-in named alone whose import fails stops the run (a usage error), where the run
            # starts: here. The xdist workers import every implementation again and run the checks,
            # so that their controller only reads the others (a class's, the bundled ones); in a
            # worker, a failed import is its row's failure.
            worker, distributing = hasattr(config, "workerinput"), _distributing(config)
            imported = [not (distributing and (e.in_class or not found.entries)) for e in entries]
            imports = [e for e, i in zip(entries, imported) if i] if entries else bundled
            isolation.preload(FRAMEWORK_MODULES[f] for e in imports
                              for f in frameworks_of(locate(e.spec)[0]) if f in FRAMEWORK_MODULES)
            impls = [load(e.spec, keep=not distributing, name=e.name, in_class=e.in_class or worker)
                     if i else declared(e.spec, name=e.name) for e, i in zip(entries, imported)]
            distinct_names(impls)
        except SpecError as e:
            raise pytest.UsageError(f"--impl {e}" if not str(e).startswith("--") else str(e)) from None
        except ImplError as e:
            raise pytest.UsageError(f"cannot use implementation {e}") from None
        for tag in {t for i in impls for t in i.tags}:
            config.addinivalue_line("markers", f"{tag}: implementations tagged {tag!r} in their TAGS")
        config.stash[IMPLS] = impls
        config.stash[NOT_IMPLEMENTATIONS] = found.not_implementations
        config.stash[DESELECTED] = {}
        if not hasattr(config, "workerinput"):  # xdist workers send their reports to the controller
            config.pluginmanager.register(Reporter(config, impls, config.stash[DESELECTED], found.not_implementations),
                                          "conformance-report")
        self.impls = impls

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        """What an xdist worker on another host gets with its start-up data: the submissions' files."""
        if not node.gateway.spec.popen:
            node.workerinput[remote.KEY] = remote.package(node.config.getoption("impl"))

    def pytest_sessionstart(self, session):
        """The profile this run uses, loaded after every pytest_configure (hypothesis' own loads the
        --hypothesis-profile one there): the chosen or default profile, with --max-examples and
        --hypothesis-verbosity over it."""
        from hypothesis import Verbosity, settings

        config = session.config
        chosen = config.getoption("hypothesis_profile", None)
        seeded = config.getoption("hypothesis_seed", None) is not None
        base = chosen or ("conformance-seeded" if seeded else "conformance")
        over = {}
        if config.getoption("max_examples") == 0:  # the fixed examples only (hypothesis' own minimum is 1)
            from hypothesis import Phase

            over["phases"] = [Phase.explicit]
        elif config.getoption("max_examples") is not None:
            over["max_examples"] = config.getoption("max_examples")
        if config.getoption("hypothesis_verbosity", None):
            over["verbosity"] = Verbosity[config.getoption("hypothesis_verbosity")]
        if over:
            settings.register_profile("conformance-now", parent=settings.get_profile(base), **over)
            base = "conformance-now"
        settings.load_profile(base)

    def pytest_generate_tests(self, metafunc):
        if "impl" not in metafunc.fixturenames:
            return
        impls = self.impls
        if "structure" in metafunc.fixturenames:  # every structure besides its own cell's (those it refuses
            params = [pytest.param(i, s, id=f"{i.name}-{structure_id(s)}", marks=_marks(i))  # are deselected)
                      for i in impls for s in STRUCTURES if s != structure_of(i.config)]
            metafunc.parametrize(["impl", "structure"], params)
            return
        params = [pytest.param(i, id=i.name, marks=_marks(i)) for i in impls]
        metafunc.parametrize("impl", params)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        """Every check that does not apply is deselected with its reason (conformance/selection.py)."""
        selection.arrange(config, items)
        pytest_private.group_ids(config, items)

    def pytest_report_header(self, config):
        impls = self.impls
        versions = []
        for dist in ("numpy", "torch", "tensorflow-cpu", "tensorflow", "jax", "hypothesis"):
            try:
                versions.append(f"{dist} {metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                pass
        # The devices line asks the GPU frameworks the implementations use, in a worker (a NumPy-only
        # run asks none).
        gpu = GPU_FRAMEWORKS & {f for i in impls for f in i.frameworks}
        reason = gpu_missing_reason(gpu)
        others = config.stash.get(NOT_IMPLEMENTATIONS, [])
        return [
            "implementations: " + ", ".join(f"{i.name} ({' '.join(i.tags)})" if i.tags else i.name for i in impls),
            *([f"not implementations (they define no train): {', '.join(others)}"] if others else []),
            *[f"{i.name}: {note}" for i in impls for note in i.notes],
            "frameworks: " + ", ".join(versions),
            "devices: cpu" + (f"; {reason}" if reason else ", cuda"),
        ] + ([f"timings: {config.stash[THREADS]}"] if THREADS in config.stash else [])

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        """After each test, whatever process-wide state its calls left changed in the implementation's
        worker (the worker put it back after each call) is said on the report: the hygiene cell of
        that implementation shows it, whatever the test order. The teardown fails (an error in
        pytest's count), so that the exit status agrees with the verdict."""
        report = yield
        impl = item.callspec.params.get("impl") if hasattr(item, "callspec") else None
        if call.when == "teardown" and getattr(impl, "leaks", None):
            left, stay = [], []
            for changes, stuck in impl.leaks:
                left += [c for c in changes if c not in left]
                stay += [s for s in stuck if s not in stay]
            impl.leaks.clear()
            report.user_properties += [(Prop.LEAK, left), (Prop.REPRODUCE, reproduce(item, impl))]
            if stay:
                report.user_properties.append((Prop.STUCK, stay))
            report.outcome = "failed"
            report.longrepr = leak_reason(item.name, left, stay) + f" [{impl.name}]"
        return report

    def pytest_unconfigure(self, config):
        stop_all()
