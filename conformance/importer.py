"""The worker's import of an implementation: a file (inside its packages, as `python mine.py`
would see them), a dotted module, or a notebook's code cells; what its import changed, and what
the suite needs to know of it."""
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path

from conformance import notebooks, state


class ImportProblem(Exception):
    """The module cannot be used (no train, a bad CONFIG), with the reason."""


class Loaded:
    """An implementation imported in this process."""

    def __init__(self, name, module, frameworks, import_changes, notes=()):
        self.name, self.module, self.frameworks, self.import_changes = name, module, frameworks, import_changes
        self.notes = list(notes)  # what the suite left out of it (a notebook's IPython lines), in words


def load(spec: str, path: str, dotted, warm, frameworks) -> Loaded:
    """Import the module (a file, or a dotted name), watching what its import changes: recorded and
    put back, and put on again around each of its own calls, as its author meant it."""
    path = Path(path)
    state.ensure_warm(warm)
    packages = _packages_above(path) if dotted is None else []
    # where its own modules import from, as under `python mine.py` or `python -m`: the suite's doing, before the watch
    folders = [path.parent, packages[0].parent if packages else path.parent] if dotted is None else [os.getcwd()]
    for folder in dict.fromkeys(map(str, folders)):
        if folder not in sys.path and (dotted is None or "" not in sys.path):
            sys.path.insert(0, folder) if dotted is None else sys.path.append(folder)
    state.BASELINE["python sys.path"] = tuple(sys.path)
    cells = notebooks.cells(path) if notebooks.is_notebook(path) else None  # nbformat's import, not the module's
    before = state.snapshot()
    notes = []
    if cells is not None:
        name = path.stem
        module, notes = _exec_notebook(_unique(f"_impl_{name}"), path, cells)
    elif dotted is None:
        name = path.stem
        prefix = _unique(f"_impl_{packages[0].name if packages else name}")
        for i, folder in enumerate(packages):  # its package, under a name of the suite's: `from . import x` works
            _exec(".".join([prefix] + [f.name for f in packages[1:i + 1]]), folder / "__init__.py", folder)
        module = _exec(".".join([prefix] + [f.name for f in packages[1:]] + [name] * bool(packages)), path)
    else:
        module = importlib.import_module(dotted)
        name = dotted.rpartition(".")[2]
    changes = state.diff(before, state.snapshot())
    if changes:
        state.restore(before, changes, culprit=name)
    return Loaded(name, module, frameworks, changes, notes)


def describe_module(loaded: Loaded, where: str) -> dict:
    """What the suite needs to know of the module: its CONFIG's fields, TAGS, and whether train fits."""
    from implementations.contract import Config

    module = loaded.module
    if not callable(getattr(module, "train", None)):
        raise ImportProblem(f"{where}: defines no train(x, y, cfg) function")
    try:
        inspect.signature(module.train).bind(None, None, None)
    except TypeError:
        raise ImportProblem(f"{where}: train{inspect.signature(module.train)} cannot be called as "
                            "train(x, y, cfg)") from None
    except ValueError:  # no signature to read (a builtin): the calls will tell
        pass
    try:
        config = Config.of(getattr(module, "CONFIG", None))
    except (TypeError, ValueError) as e:
        raise ImportProblem(f"{where}: bad CONFIG: {e}") from None
    tags = getattr(module, "TAGS", ())
    if isinstance(tags, str) or not all(isinstance(t, str) and t.isidentifier() for t in tags):
        raise ImportProblem(f"{where}: TAGS must be a sequence of identifier-like words, got {tags!r}")
    return {"name": loaded.name, "config": {k: v for k, v in config.asdict().items()}, "tags": list(tags),
            "has_config": getattr(module, "CONFIG", None) is not None,
            "import_changes": [str(c) for c in loaded.import_changes], "notes": loaded.notes}


def _packages_above(path: Path) -> list:
    """The package folders (with an __init__.py) a file sits in, outermost first."""
    out, folder = [], path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        out.insert(0, folder)
        folder = folder.parent
    return out


def _unique(name: str) -> str:
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


def _exec_notebook(name: str, path: Path, cells: list):
    """Run a notebook's code cells in order as the body of module `name`; (module, notes).
    Each cell is compiled under a name of its own, so that an error says which cell."""
    import linecache
    import types

    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.display = _display  # IPython's built-in, which notebooks call as if it were Python's
    sys.modules[name] = module
    notes = []
    for cell in cells:
        filename = notebooks.cell_filename(path, cell.number)
        linecache.cache[filename] = (len(cell.source), None, cell.source.splitlines(True), filename)
        notes += cell.notes
        exec(compile(cell.source, filename, "exec"), module.__dict__)
    return module, notes


def _display(*objs, **kwargs):
    print(*objs)
