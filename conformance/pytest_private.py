"""The private pytest API the plugin uses, in one place. Checked against pytest 9.2.0 (the pin in
requirements.txt); on another version, these are the lines to read again."""
PYTEST_CHECKED = "9.2.0"


def take_ini(early_config, ini_path, root, args_namespace) -> None:
    """Make pytest use the suite's rootdir and ini (None: no ini at all) after it chose its own from
    the command line's paths (`pytest --impl /elsewhere/mine.py`, started anywhere)."""
    import os

    from _pytest.config.findpaths import determine_setup

    rootpath, inipath, inicfg, ignored = determine_setup(
        inifile=str(ini_path or os.devnull), override_ini=args_namespace.override_ini, args=[str(root)],
        rootdir_cmd_arg=str(root), invocation_dir=early_config.invocation_params.dir)
    early_config._rootpath, early_config._inipath, early_config._inicfg = rootpath, ini_path and inipath, inicfg
    early_config._inicache.clear()
    args_namespace.confcutdir = str(root)


def hide_progress(terminalreporter) -> None:
    """pytest's own [ 42%] column off (the live line says how far the run is)."""
    terminalreporter._show_progress_info = False


def width(terminalreporter) -> int:
    return terminalreporter._tw.fullwidth


def group_ids(config, items) -> None:
    """--dist loadgroup in an xdist worker: the group written into each grouped test's id, where
    the controller's scheduler reads it (`...[x]@group`). xdist 3.8 writes it to `item._nodeid`,
    which pytest 9.2 no longer reads (the id lives in `item._id`), so that every group was
    silently spread over the workers (pytest-dev/pytest-xdist#1386). A no-op once xdist writes it."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        old = item._id
        if names and old.names and item.nodeid.rfind("@") <= item.nodeid.rfind("]"):
            # into the last name, with the parameters: an id rebuilt from its parts (pytest makes
            # one relative to the directory a run started in) keeps the group at the very end
            last = old.names[-1] + (f"[{old.params}]" if old.params is not None else "") + f"@{'_'.join(names)}"
            item._id = NodeId(path=old.path, names=(*old.names[:-1], last))
