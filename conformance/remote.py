"""A class bigger than one machine: pytest-xdist's remote workers (--tx socket=HOST:PORT, ssh=...).

xdist gives a remote worker the controller's command line, and stops with "not relative to an
rsync root" at any argument that is a path on the controller's disk (its rsync, which could copy
them, is deprecated and leaves xdist 4). So the suite ships the submissions itself: on the
controller every --impl becomes one `--impl=VALUE` argument (never read as a path), and each
remote worker is sent the files of the folders they name in its start-up data (workerinput),
writes them into a folder of its own and verifies them there, under the same row names. The
suite itself must be installed on each remote host (the same version; `pip install` of this
project), as pytest and its plugins must be for any xdist worker.
"""
import dataclasses
import tempfile
from pathlib import Path

from conformance import notebooks
from conformance.submissions import SKIPPED, fixed_part

KEY = "conformance_submissions"
MOST_BYTES = 256 * 2**20  # all the files one run ships to a remote worker


def remote(config) -> bool:
    """Whether this run may send tests to a worker that is not a local process."""
    return any(not spec.startswith("popen") for spec in config.getoption("tx", None) or [])


def one_argument_each(config) -> None:
    """--impl X becomes --impl=X in the command line xdist gives its workers (see above)."""
    args, out, i = list(config.invocation_params.args), [], 0
    while i < len(args):
        if args[i] == "--impl" and i + 1 < len(args):
            out.append(f"--impl={args[i + 1]}")
            i += 2
        else:
            out.append(args[i])
            i += 1
    config.invocation_params = dataclasses.replace(config.invocation_params, args=tuple(out))


def package(specs) -> dict:
    """{--impl value: {path below the folder it names: bytes}} for every value that is a path."""
    out, total = {}, 0
    for value in specs:
        folder, _ = _folder_of(value)
        if folder is None:
            continue
        files = {}
        for path in sorted(folder.rglob("*")):
            below = path.relative_to(folder)
            if path.is_file() and not any(p in SKIPPED or p.startswith(".") for p in below.parts[:-1]):
                files[below.as_posix()] = path.read_bytes()
                total += len(files[below.as_posix()])
        if total > MOST_BYTES:
            raise ValueError(f"--impl {value}: more than {MOST_BYTES >> 20} MiB of files to send to remote workers")
        out[value] = files
    return out


def unpack(shipped: dict) -> dict:
    """On a remote worker: the shipped files written out; {--impl value: the value here}."""
    top, out = Path(tempfile.mkdtemp(prefix="conformance-class-")), {}
    for n, (value, files) in enumerate(shipped.items()):
        folder, rest = _folder_of(value, exists=False)
        here = top / str(n) / folder.name
        for below, data in files.items():
            target = here / below
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        out[value] = str(here / rest) if rest else str(here)
    return out


def _folder_of(value: str, exists: bool = True):
    """(the folder whose files a value needs, the value's part below it) or (None, None) for a
    dotted module name. A file needs its folder (the modules it imports from beside it)."""
    path = Path(value)
    wild = any(c in value for c in "*?[")
    if wild:
        base = Path(fixed_part(value))
        return (base.resolve() if exists else base), Path(value).relative_to(base).as_posix()
    if (path.is_dir() if exists else not value.endswith((".py", notebooks.SUFFIX))):
        return (path.resolve() if exists else path), ""
    if (path.is_file() if exists else True):
        return (path.resolve().parent if exists else path.parent), path.name
    return None, None
