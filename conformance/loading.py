"""Loading the implementations under test: what --impl names, found and imported in a worker."""
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from conformance import ROOT, isolation, notebooks, pool
from conformance.impl import Impl
from conformance.imports import frameworks_of
from conformance.replies import ImplError
from conformance.submissions import declared_tags, defines_train
from implementations.contract import Config

BUNDLED = ROOT / "implementations"
ORACLE = ROOT / "conformance" / "core" / "oracle.py"


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


def load(spec: str, keep: bool = True, name: str = "", in_class: bool = False) -> Impl:
    """An implementation (a .py path, a notebook or a dotted module name), imported in a worker of
    its own: what its module declares comes back as data; a fault of its import (a crash, an exit,
    a hang) is kept on it, and every check of it fails with that status. keep=False: its worker
    stops once it has answered (a module that only runs beside others). name: its row's name (a
    class's file: its path in the folder). in_class: an import that fails is kept on it as its
    problem (its row fails), not raised (which stops the run)."""
    impl = _unloaded(spec, name)
    if keep:
        pool.make_room()
    worker = isolation.Worker()
    try:
        info = pool.import_in(worker, impl.alone or impl.name, impl.spec or impl.dotted, impl.path, impl.dotted,
                              impl.frameworks, impl.where)
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
        impl._worker, pool.ACTIVE[id(impl)] = worker, impl
    else:
        worker.stop()
    impl.tags, impl.has_config, impl.notes = tuple(info["tags"]), info["has_config"], info.get("notes", [])
    impl.config = Config(**info["config"])
    impl.import_changes = info["import_changes"]
    return impl


def declared(spec: str, name: str = "") -> Impl:
    """An implementation as its source declares it, not imported: its row's name, file, frameworks,
    literal TAGS and a notebook's notes. What the controller of an xdist run needs (its workers
    import every implementation and run the checks; a worker of its own here would import the
    frameworks once more, 8 s before the workers start)."""
    impl = _unloaded(spec, name)
    impl.tags = declared_tags(impl.path)
    if notebooks.is_notebook(impl.path):
        try:
            impl.notes = [n for cell in notebooks.cells(impl.path) for n in cell.notes]
        except Exception:  # noqa: BLE001 - a notebook nbformat cannot read: its import says why, on its row
            impl.notes = []
    return impl


def _unloaded(spec: str, name: str) -> Impl:
    path, dotted = locate(spec)
    plugged = not (dotted or "").startswith("implementations.")
    alone = path.stem if dotted is None else dotted.rpartition(".")[2]
    return Impl(name or alone, Config(), (), spec if plugged else "", path, tuple(sorted(frameworks_of(path))),
                dotted=dotted, alone=alone if name and name != alone else "")


def bundled_specs() -> list:
    """The dotted names of every module in implementations/ that may define train, in teaching order."""
    names = [p.stem for p in sorted(BUNDLED.glob("*.py")) if not p.stem.startswith("_")]
    order = getattr(importlib.import_module("implementations"), "ORDER", ())
    rank = {n: i for i, n in enumerate(order)}
    return [f"implementations.{n}" for n in sorted(names, key=lambda n: (rank.get(n, len(rank)), n))]


def is_implementation(spec: str) -> bool:
    """Whether a bundled module is an implementation (defines train), read from its source."""
    return defines_train(locate(spec)[0])
