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

from pytest import UsageError

from conformance.submissions import SKIPPED, fixed_part

KEY = "conformance_submissions"
MOST_BYTES = 256 * 2**20  # all the files one run ships to a remote worker


def remote(config) -> bool:
    """Whether this run may send tests to a worker that is not a local process."""
    return any(not spec.startswith("popen") for spec in config.getoption("tx", None) or [])


def refuse_test_paths(config) -> None:
    """A test path on the command line stops the run with the way to select instead: xdist cannot
    send it (see above), and a remote host runs its own installed suite."""
    if config.args_source != config.ArgsSource.ARGS:
        return
    paths = [a.split("::")[0] for a in config.args]
    paths = [p for p in paths if (config.invocation_params.dir / p).exists()]
    if paths:
        files = [Path(p).stem for p in paths if p.endswith(".py")]
        way = f"-k '{' or '.join(files)}'" if files else "-k, or nothing for the whole suite"
        raise UsageError(f"with remote workers (--tx) give no test path ({', '.join(paths)}): each host runs "
                         f"its own installed suite, which xdist cannot send paths to; select with {way}")


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
    """{--impl value: (the folder's name, the value's part below it, {path below the folder: bytes})}
    for every value that is a path (a file needs its folder: the modules it imports beside it)."""
    out, total = {}, 0
    for value in specs:
        path, wild = Path(value), any(c in value for c in "*?[")
        if wild and Path(fixed_part(value)).is_dir():
            folder, below = Path(fixed_part(value)), Path(value).relative_to(fixed_part(value)).as_posix()
        elif path.is_dir():
            folder, below = path, ""
        elif path.is_file():
            folder, below = path.parent, path.name
        else:
            continue  # a dotted module name: the remote host has it, or says it has not
        files = {}
        for file in sorted(folder.rglob("*")):
            inside = file.relative_to(folder)
            if file.is_file() and not any(p in SKIPPED or p.startswith(".") for p in inside.parts[:-1]):
                files[inside.as_posix()] = file.read_bytes()
                total += len(files[inside.as_posix()])
        if total > MOST_BYTES:
            raise ValueError(f"--impl {value}: more than {MOST_BYTES >> 20} MiB of files to send to remote workers")
        out[value] = (folder.resolve().name, below, files)
    return out


def unpack(shipped: dict) -> dict:
    """On a remote worker: the shipped files written out; {--impl value: the value here}."""
    top, out = Path(tempfile.mkdtemp(prefix="conformance-class-")), {}
    for n, (value, (name, below, files)) in enumerate(shipped.items()):
        here = top / str(n) / name
        for inside, data in files.items():
            (here / inside).parent.mkdir(parents=True, exist_ok=True)
            (here / inside).write_bytes(data)
        out[value] = str(here / below) if below else str(here)
    return out
