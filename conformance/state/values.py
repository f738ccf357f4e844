"""The values a snapshot holds: a setting left unset, one change, and how each is shown."""
import logging
from dataclasses import dataclass


# pytest and its plugins set these themselves, per test.
IGNORED_ENV = {"PYTEST_CURRENT_TEST", "PYTEST_VERSION", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID",
               "PYTEST_XDIST_WORKER_COUNT"}
MISSING = type("Unset", (), {"__repr__": lambda self: "unset"})()  # an environment variable that is not set
EXPANDED = ("jax config", "torch._dynamo.config", "torch._inductor.config")  # dicts compared key by key


@dataclass
class Change:
    """One setting that differs: its name and its raw values before and after."""

    setting: str
    before: object
    after: object

    def __str__(self):
        if self.setting == "warning filters":
            added = [f for f in self.after if f not in self.before]
            removed = [f for f in self.before if f not in self.after]
            return "warning filters: " + "; ".join(
                part for part in (f"added {added}" if added else "", f"removed {removed}" if removed else "",
                                  "reordered" if not added and not removed else "") if part)
        return f"{self.setting}: {describe(self.setting, self.before)} -> {describe(self.setting, self.after)}"


def describe(setting: str, value) -> str:
    if value is MISSING:
        text = "unset"
    elif setting.startswith("logging: logger "):
        text = describe_logger(value)
    else:
        text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."

def describe_logger(value):
    level, handlers, propagate, disabled = value
    text = f"level {logging.getLevelName(level)}, handlers [{', '.join(type(h).__name__ for h in handlers)}]"
    return text + ("" if propagate else ", propagate off") + (", disabled" if disabled else "")


def same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - values whose == raises are compared by repr
        return repr(a) == repr(b)


CONTAINERS = (set, frozenset, list, dict, tuple)  # config values a change in place can reach


def copied(value):
    """A copy of a config value that a later change in place cannot reach (containers copied)."""
    return type(value)(value) if isinstance(value, CONTAINERS) else value
