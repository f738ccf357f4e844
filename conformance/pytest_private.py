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
