"""What an implementation imports, read from its source (never run): the frameworks it uses, and the
other libraries the suite imports before it watches the module's own import (conformance/state/)."""
import ast
import functools
import re
from pathlib import Path

from conformance import ROOT, notebooks
from conformance.submissions import top_level

FRAMEWORKS = ("torch", "tensorflow", "keras", "jax", "numpy")


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
        source, nodes = _parsed(path, path.stat().st_mtime_ns, top_level)
    except Exception:  # noqa: BLE001 - unreadable (a broken notebook too): its import says why
        return [], []
    names, sources = [], [source]
    for node in nodes:
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


@functools.lru_cache(maxsize=256)
def _parsed(path: Path, mtime_ns: int, top_level_only: bool) -> tuple:
    """(source, its import statements) of a file, parsed once while it is unchanged (each run reads
    every implementation's imports, and the self-tests start a hundred runs in one process)."""
    source = notebooks.source(path) if notebooks.is_notebook(path) else path.read_text()
    tree = ast.parse(source)
    nodes = top_level(tree.body) if top_level_only else ast.walk(tree)
    return source, tuple(n for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom)))


def _local_file(name: str, folders):
    """The source file of module `name` in one of the folders (a plug-in's own, the project), else None."""
    for base in folders:
        candidate = base.joinpath(*name.split("."))
        for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
            if path.is_file():
                return path
    return None
