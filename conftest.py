"""Only for a checkout whose environment lacks the suite's plugin (pytest started without
`./run`'s set-up): register it from here, so that the suite still runs from this directory.
The plugin itself is conformance/plugin.py; `./run` installs it as a pytest11 entry point."""


def pytest_addhooks(pluginmanager):
    if not pluginmanager.has_plugin("conformance"):
        from conformance import plugin

        pluginmanager.register(plugin, "conformance")
