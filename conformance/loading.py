"""An implementation under test: loading it, the frameworks it uses, and the structures it computes."""
import ast
import importlib
import importlib.util
import inspect
import itertools
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from conformance import ROOT, state
from conformance.data import SMALL, SMALL_DTYPE, make_data
from implementations.contract import RESULT_KEYS, STRUCTURAL, Config

BUNDLED = ROOT / "implementations"
ORACLE = ROOT / "tests" / "oracle.py"
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax", "numpy")
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
    """One implementation under test."""

    name: str
    module: object
    config: Config
    tags: tuple
    spec: str = ""  # what --impl was given; empty for a bundled module
    path: Path = None
    frameworks: tuple = ()
    import_changes: list = field(default_factory=list)  # process-wide state its import changed
    last: tuple = None  # (steps, final loss) of the latest run, for the live progress line
    trained: tuple = (0.0, 0, 0)  # (seconds, calls, steps) spent inside its train, all told
    alone: str = ""  # its name when run alone, where another of its name made it folder/name
    _probe: dict = None

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

    def run(self, x, y, cfg) -> dict:
        """Call train and return its result as a dict, failing cleanly on missing keys.

        A module whose import changed process-wide state runs with that state, as its author
        meant it to, and everyone else runs without it (the hygiene family reports the change)."""
        self.warm()
        began, steps = time.perf_counter(), 0
        try:
            with state.applied(self.import_changes):
                try:
                    raw = self.module.train(x, y, cfg)
                except SystemExit as e:  # would end the whole run: a failure of this call instead
                    raise RuntimeError(f"train called sys.exit({e.code!r}); raise an exception instead").with_traceback(
                        e.__traceback__) from None  # its traceback: where sys.exit was called
            steps = cfg.steps if isinstance(getattr(cfg, "steps", None), int) else 0
        finally:  # a refused call's time counts too
            seconds, calls, total = self.trained
            self.trained = (seconds + time.perf_counter() - began, calls + 1, total + steps)
        result = as_result(self, raw, cfg)
        try:
            losses = np.asarray(result["losses"], dtype=float).ravel()
            self.last = (losses.size, float(losses[-1])) if losses.size else self.last
        except Exception:  # noqa: BLE001 - losses that are not numbers: the contract family says so
            pass
        return result

    def warm(self):
        """Its frameworks' one-time set-up, done (and taken into the baseline) before it runs."""
        state.ensure_warm(self.frameworks)

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
            if state.BASELINE:  # what the probe's calls left changed is not the next test's doing
                state.restore(state.BASELINE, culprit=self.name)
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
        except BaseException as e:  # noqa: B036 - pytest.fail from as_result included
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            return "broken", one_line_error(e).removesuffix(f" [{self.name}]")
        return "claimed", ""

    def preflight(self) -> str:
        """'' when a call of its own cell works; otherwise one line that says what to fix."""
        verdict, detail = self.probe()[structure_id(structure_of(self.config))]
        if verdict == "refused":
            cell = ", ".join(f"{k}={getattr(self.config, k)!r}" for k in STRUCTURAL)
            claimed = [s for s in STRUCTURES if self.probe()[structure_id(s)][0] != "refused"]
            fix = ("it refuses every structure" if not claimed else
                   "set CONFIG to the cell it implements, e.g. CONFIG = "
                   + repr({k: v for k, v in claimed[0].items() if v != getattr(Config(), k)})
                   + " (with that cell's lr and data)")
            source = "its CONFIG" if getattr(self.module, "CONFIG", None) is not None else \
                "it has no CONFIG, which means the warm-up cell"
            return f"{self.name} refuses its own cell ({cell}; {source}): {detail}. Fix: {fix}"
        if verdict == "broken":
            return f"{self.name}: train fails on a one-step call of its own cell: {detail}"
        return ""


def one_line_error(e: BaseException) -> str:
    if isinstance(e, pytest.fail.Exception):
        return str(e.msg).splitlines()[0]
    tb = e.__traceback__
    where = ""
    while tb is not None:
        frame = tb.tb_frame
        if not frame.f_code.co_filename.startswith(str(ROOT / "conformance")):
            where = f" (at {shown_path(frame.f_code.co_filename)}:{tb.tb_lineno})"
        tb = tb.tb_next
    text = f"{type(e).__name__}: {e}".strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:300] + where


def as_result(impl: Impl, raw, cfg) -> dict:
    __tracebackhide__ = True
    where = f"[{impl.name}]"
    if not hasattr(raw, "keys") or not hasattr(raw, "__getitem__"):
        pytest.fail(f"train returned {type(raw).__name__}, but should return a Result or a mapping with keys "
                    f"{list(RESULT_KEYS)} {where}", pytrace=False)
    got = {k: raw[k] for k in raw.keys() if k in RESULT_KEYS or k == "depths"}  # any other key is the module's own
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


# ----------------------------------------------------------------- frameworks


def frameworks_of(path: Path, top_level: bool = False) -> set:
    """The frameworks a module imports, in its source or in its own local modules (read, not
    imported: the suite warms them up before the import it watches). top_level: only the
    imports that run when the module is imported. Marks 'torch.compile' and 'tf.jit_compile'
    too, whose first use sets up more."""
    names, sources = _imports(path, top_level, set())
    found = {n.split(".")[0] for n in names} & set(FRAMEWORKS)
    text = "\n".join(sources)
    if not top_level and "torch" in found and re.search(r"\btorch\.compile\b|(?<![\w.])compile\b", text):  # not re.compile
        found.add("torch.compile")
    if not top_level and "tensorflow" in found and "jit_compile" in text:
        found.add("tf.jit_compile")
    return found


def libraries_of(path: Path) -> set:
    """'module:NAME' for every other installed module it imports, anywhere in its source or in its
    own local modules: importing one may change process-wide state once (scipy.special adds a
    warning filter), which is that library's doing, not the plug-in's, so the suite imports them
    before it watches the plug-in's import (state.ensure_warm). A framework itself is warmed up
    apart; its submodules are imported here."""
    return {f"module:{n}" for n in _imports(path, False, set())[0] if n not in FRAMEWORKS}


def _imports(path: Path, top_level: bool, seen: set) -> tuple:
    """(the module names its import statements name, the sources read): its own files beside it
    are followed, their imports counting as its. For `from a import b`, a.b too: b may be a module."""
    if path in seen or not path.is_file():
        return [], []
    seen.add(path)
    try:
        source = path.read_text()
        tree = ast.parse(source)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return [], []
    names, sources = [], [source]
    for node in (_module_level(tree.body) if top_level else ast.walk(tree)):
        found = []
        if isinstance(node, ast.Import):
            found = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:  # `from . import x`, `from .x import y`: its package's
            base = path.parents[min(node.level, len(path.parents)) - 1]
            for name in [node.module] * bool(node.module) + [".".join(filter(None, (node.module, a.name)))
                                                             for a in node.names]:
                more, texts = _imports(_local_file(name, (base,)) or Path(), top_level, seen)
                names += more
                sources += texts
        elif isinstance(node, ast.ImportFrom) and node.module:
            found = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in found:
            local = _local_file(name, (path.parent, ROOT))
            if local is None:
                names.append(name)
                continue
            more, texts = _imports(local, top_level, seen)
            names += more
            sources += texts
    return names, sources


def _module_level(body):
    """The statements that run at import: the module body and its if/try/with blocks, not functions."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                yield from _module_level(block)
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def _local_file(name: str, folders):
    """The source file of module `name` in one of the folders (a plug-in's own, the project), else None."""
    for base in folders:
        candidate = base.joinpath(*name.split("."))
        for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
            if path.is_file():
                return path
    return None


# ----------------------------------------------------------------- loading


def _from_module(module, name: str, spec: str, path: Path, frameworks, changes) -> Impl:
    where = spec or f"implementations/{name}.py"
    if not callable(getattr(module, "train", None)):
        raise ImplError(f"{where}: defines no train(x, y, cfg) function")
    try:
        inspect.signature(module.train).bind(None, None, None)
    except TypeError:
        raise ImplError(f"{where}: train{inspect.signature(module.train)} cannot be called as train(x, y, cfg)") from None
    except ValueError:  # no signature to read (a builtin): the calls will tell
        pass
    try:
        config = Config.of(getattr(module, "CONFIG", None))
    except (TypeError, ValueError) as e:
        raise ImplError(f"{where}: bad CONFIG: {e}") from None
    tags = getattr(module, "TAGS", ())
    if isinstance(tags, str) or not all(isinstance(t, str) and t.isidentifier() for t in tags):
        raise ImplError(f"{where}: TAGS must be a sequence of identifier-like words, got {tags!r}")
    return Impl(name, module, config, tuple(tags), spec, path, tuple(sorted(frameworks)), changes)


def locate(spec: str):
    """(path of the source, module name or None for a file) for what --impl was given."""
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if path.is_dir():
            raise ImplError(f"{spec}: a folder; give the .py file that defines train (or a dotted module name)")
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


def load(spec: str) -> Impl:
    """Import a plug-in (a .py path or a dotted module name), watching what its import changes.

    The frameworks it imports at its top are warmed up first; whatever the import itself
    changes is recorded on the Impl and put back, so that nothing else runs with it."""
    path, dotted = locate(spec)
    state.ensure_warm(frameworks_of(path, top_level=True) | libraries_of(path))
    before = state.snapshot()
    try:
        if dotted is None:
            name = path.stem
            packages = _packages_above(path)
            for folder in {path.parent, packages[0].parent if packages else path.parent}:
                if str(folder) not in sys.path:  # its own modules import, as under `python mine.py` or `python -m`
                    sys.path.insert(0, str(folder))
            prefix = _unique(f"_impl_{packages[0].name if packages else name}")
            for i, folder in enumerate(packages):  # its package, under a name of the suite's: `from . import x` works
                _exec(".".join([prefix] + [f.name for f in packages[1:i + 1]]), folder / "__init__.py", folder)
            module = _exec(".".join([prefix] + [f.name for f in packages[1:]] + [name] * bool(packages)), path)
        else:
            module = importlib.import_module(dotted)
            name = dotted.rpartition(".")[2]
    except SystemExit as e:  # a script's top-level code (argparse, sys.exit(main())) ran at import
        raise ImplError(f"{spec}: importing it called sys.exit({e.code!r}): put the code a script runs under "
                        "if __name__ == '__main__':") from None
    except Exception as e:  # the module's own import failed: say which module and why
        raise ImplError(f"{spec}: import failed: {type(e).__name__}: {e}") from None
    changes = state.diff(before, state.snapshot())
    if changes:
        state.restore(before, changes, culprit=name)
    plugged = not (dotted or "").startswith("implementations.")
    return _from_module(module, name, spec if plugged else "", path, frameworks_of(path), changes)


def _packages_above(path: Path) -> list:
    """The package folders (with an __init__.py) a file sits in, outermost first."""
    out, folder = [], path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        out.insert(0, folder)
        folder = folder.parent
    return out


def _unique(name: str) -> str:
    """name, or name_2, name_3, ...: another file or package of this name came from another folder."""
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


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def bundled_specs() -> list:
    """The dotted names of every module in implementations/ that may define train, in teaching order."""
    names = [p.stem for p in sorted(BUNDLED.glob("*.py")) if not p.stem.startswith("_")]
    order = getattr(importlib.import_module("implementations"), "ORDER", ())
    rank = {n: i for i, n in enumerate(order)}
    return [f"implementations.{n}" for n in sorted(names, key=lambda n: (rank.get(n, len(rank)), n))]


def is_implementation(spec: str) -> bool:
    """Whether a bundled module is an implementation (defines train), read from its source."""
    path, _ = locate(spec)
    tree = ast.parse(path.read_text())
    return any(isinstance(n, ast.FunctionDef) and n.name == "train" for n in tree.body)


def shown_path(path) -> str:
    """path as a user would type it: relative to the working directory when inside it."""
    path, here = Path(path), Path.cwd()
    for candidate in (path.absolute(), path.resolve()):
        if candidate.is_relative_to(here):
            return str(candidate.relative_to(here))
    return str(path)


# ----------------------------------------------------------------- devices


def gpu_devices(frameworks) -> list:
    """The cfg.device strings of the GPUs the implementation's framework sees ("cuda:0", ...)."""
    count = 0
    if "torch" in frameworks:
        import torch

        count = max(count, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if "tensorflow" in frameworks or "keras" in frameworks:
        import tensorflow as tf

        count = max(count, len(tf.config.list_physical_devices("GPU")))
    if "jax" in frameworks:
        import jax

        count = max(count, len([d for d in jax.devices() if d.platform == "gpu"]))
    return [f"cuda:{i}" for i in range(count)]


def gpu_missing_reason(frameworks) -> str:
    """'' when a GPU is visible to one of these frameworks; otherwise why not, for each of them."""
    from importlib import metadata

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    reasons = []
    if "torch" in frameworks:
        import torch

        if torch.cuda.is_available():
            return ""
        reasons.append(f"torch {torch.__version__} is a CPU-only build" if torch.version.cuda is None
                       else "torch.cuda.is_available() is False (no GPU or driver on this machine)")
    if "tensorflow" in frameworks or "keras" in frameworks:
        if version("tensorflow-cpu") and not version("tensorflow"):
            reasons.append(f"tensorflow-cpu {version('tensorflow-cpu')} has no GPU support")
        else:
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                return ""
            reasons.append(f"TensorFlow {tf.__version__} sees no GPU")
    if "jax" in frameworks:
        import jax

        if any(d.platform == "gpu" for d in jax.devices()):
            return ""
        reasons.append(f"jax {jax.__version__} sees only CPU devices (a CPU build of jaxlib)")
    return "no GPU: " + "; ".join(reasons) if reasons else "no GPU: NumPy runs on the CPU only"
