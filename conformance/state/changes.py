"""snapshot() reads every setting, diff() names what changed, restore() puts it back."""
import contextlib
import logging
import os
import warnings

from conformance.state.frameworks import registry
from conformance.state.process import environ, filters, inert, loggers, own, patched, put_attributes
from conformance.state.values import EXPANDED, MISSING, Change, same


def snapshot() -> dict:
    """Every setting's current value (environment, warnings and logging included)."""
    values = {}
    for name, (get, _) in registry().items():
        try:
            values[name] = get()
        except Exception as e:  # noqa: BLE001 - a getter that cannot run here (no such device): note it, compare it too
            values[name] = f"<unreadable: {type(e).__name__}>"
    values["environ"] = environ()
    values["warning filters"] = filters()
    values["loggers"] = loggers()
    values["logging disabled below"] = logging.root.manager.disable
    return values


def diff(before: dict, after: dict) -> list:
    """The changes from before to after, one per setting, environment variable, flag and logger."""
    changes = []
    for name in before:
        if name not in after:
            continue
        a, b = before[name], after[name]
        if a is b or same(a, b):  # the common case, at C speed: nothing changed
            continue
        if name == "module attributes":
            changes += patched(a, b)
        elif name in EXPANDED + ("environ", "loggers") and isinstance(a, dict) and isinstance(b, dict):
            prefix = {"environ": "environment variable", "loggers": "logging: logger"}.get(name, name)
            for key in sorted(set(a) | set(b), key=str):
                old, new = a.get(key, MISSING), b.get(key, MISSING)
                if name == "loggers" and old is MISSING and inert(new[1]):
                    continue  # a logger first used now, with no handler but NullHandler: not configuration
                if not same(old, new):
                    changes.append(Change(f"{prefix} {key}", old, new))
        elif not same(a, b):
            changes.append(Change(name, a, b))
    return changes




def put(setting: str, value, reg=None) -> bool:
    """Set one setting (as diff() names it) to value; False where it cannot be set."""
    reg = registry() if reg is None else reg
    if setting.startswith("environment variable "):
        key = setting.removeprefix("environment variable ")
        if value is MISSING:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    elif setting.startswith("logging: logger "):
        name = setting.removeprefix("logging: logger ")
        lg = logging.root if name == "root" else logging.getLogger(name)
        level, handlers, propagate, disabled = (logging.NOTSET, (), True, False) if value is MISSING else value
        lg.setLevel(level)
        lg.handlers[:] = [h for h in lg.handlers if h not in own(lg.handlers)] + list(handlers)  # pytest's stay
        lg.propagate, lg.disabled = propagate, disabled
    elif setting.startswith("module attributes "):
        put_attributes({setting.removeprefix("module attributes "): value})
    elif setting == "logging disabled below":
        logging.disable(value)
    elif setting == "warning filters":
        _set_filters(value)
    else:
        prefix, _, key = setting.rpartition(" ")
        if prefix in EXPANDED:
            setting, value = prefix, {key: value}
        setter = reg.get(setting, (None, None))[1]
        if setter is None or value is MISSING:
            return False
        setter(value)
    return True


STUCK = {}  # setting -> the implementation that left it changed where restore() cannot put it back


def restore(target: dict, changes=None, culprit: str = None) -> list:
    """Set every changed setting back to its value in target; return the changes that stay. Those
    that stay (a setting without a setter, such as TensorFlow's NumPy behaviour, or one that cannot
    return to "unset") are recorded in STUCK as culprit's, so that no other implementation is
    blamed for them later."""
    changes = diff(target, snapshot()) if changes is None else changes
    if not changes:
        return []
    _put_all(changes, "before")
    left = {c.setting for c in diff(target, snapshot())}
    stay = [c for c in changes if c.setting in left]
    if culprit:
        for change in stay:
            STUCK.setdefault(change.setting, culprit)
    return stay


def stuck_by_others(name: str) -> set:
    """The settings another implementation left changed for good."""
    return {setting for setting, who in STUCK.items() if who != name}


@contextlib.contextmanager
def applied(changes):
    """Run a block with some changes made (an import's), and take them back afterwards."""
    if not changes:
        yield
        return
    _put_all(changes, "after")
    try:
        yield
    finally:
        _put_all(changes, "before")


def _put_all(changes, side: str):
    """Give every changed setting its value before or after the change (what cannot be set stays)."""
    reg = registry()
    for change in changes:
        try:
            put(change.setting, getattr(change, side), reg)
        except Exception:  # noqa: BLE001 - a setter that refuses: restore() says what stays
            pass


_FILTER_OBJECTS = {}  # normalised filter -> the real filter tuple, to put filters back as they were


def _remember_filters():
    for real in warnings.filters:
        action, message, category, module, lineno = real
        key = (action, getattr(message, "pattern", message), getattr(category, "__name__", str(category)),
               getattr(module, "pattern", module), lineno)
        _FILTER_OBJECTS.setdefault(key, real)


def _set_filters(normalised):
    real = [_FILTER_OBJECTS[f] for f in normalised if f in _FILTER_OBJECTS]
    warnings.filters[:] = real
    warnings._filters_mutated() if hasattr(warnings, "_filters_mutated") else None


def remember(values: dict) -> None:
    """Keep what restore() needs to put back objects, not only their descriptions."""
    _remember_filters()


@contextlib.contextmanager
def watching(baseline_filters=None):
    """Run a block with pytest's own warning filters and log handlers out of the way, so that
    warnings.simplefilter and logging.basicConfig inside it take effect and can be seen;
    yield a dict that receives 'before' and 'after' snapshots; put pytest's back afterwards."""
    seen = {}
    saved_handlers, saved_level = list(logging.root.handlers), logging.root.level
    with warnings.catch_warnings():
        if baseline_filters is not None:
            _set_filters(baseline_filters)
        logging.root.handlers[:] = []
        try:
            seen["before"] = snapshot()
            yield seen
        finally:
            seen["after"] = snapshot()
            _remember_filters()
            logging.root.handlers[:] = saved_handlers
            logging.root.setLevel(saved_level)
