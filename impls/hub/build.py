"""Which of the hub's modules run compiled, and the switch that runs them all from
their .py sources.

``pip install -e .`` compiles the hub's hot path with Cython from the very .py files of
this package (setup.py's HUB_COMPILED), as gevent compiles its own hub: each compiled
module sits beside its source, and Python imports an extension module before a source
file. This module, imported first by the package, turns that off when asked to
(SWITCHYARD_PURE_HUB=1), or when a source has been edited since it was compiled: the
compiled module would run the old code.

    import impls.hub
    impls.hub.compiled()      # ['hub', 'runtime', 'socket', ...], or [] from the .py files
"""
import importlib
import os
import sys
import warnings
from importlib import machinery

PACKAGE = __name__.rpartition(".")[0]
HERE = os.path.dirname(__file__)  # the package's directory


def built():
    """{module name: path} of the compiled modules that sit beside their sources."""
    found = {}
    for name in sorted(os.listdir(HERE)):
        for suffix in machinery.EXTENSION_SUFFIXES:
            module = name[:-len(suffix)]
            if name.endswith(suffix) and os.path.isfile(os.path.join(HERE, module + ".py")):
                found[module] = os.path.join(HERE, name)
    return found


def stale():
    """The first compiled module older than its source (.py or .pxd), or None."""
    for module, path in built().items():
        sources = [os.path.join(HERE, module + suffix) for suffix in (".py", ".pxd")]
        if any(os.path.isfile(source) and os.path.getmtime(source) > os.path.getmtime(path)
               for source in sources):
            return module
    return None


def use_sources():
    """From now on, import this package's modules from their .py files: a finder for
    the package's directory that knows no extension suffixes, in the place where
    Python keeps the finder of each directory it imports from."""
    loaders = [(machinery.SourceFileLoader, machinery.SOURCE_SUFFIXES),
               (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES)]
    for path in sys.modules[PACKAGE].__path__:  # the very strings the import system looks up
        sys.path_importer_cache[path] = machinery.FileFinder(path, *loaders)


def compiled():
    """The names of this package's modules that run compiled: none with
    SWITCHYARD_PURE_HUB=1, nor where setup.py could not build them."""
    modules = [importlib.import_module(f"{PACKAGE}.{name}") for name in built()]
    return [module.__name__.rpartition(".")[2] for module in modules
            if module.__file__.endswith(tuple(machinery.EXTENSION_SUFFIXES))]


if os.environ.get("SWITCHYARD_PURE_HUB"):
    use_sources()
elif (module := stale()) is not None:
    warnings.warn(f"impls.hub runs from its .py sources: {module}'s source is newer than its "
                  "compiled module (`pip install -e .` compiles it again)", stacklevel=2)
    use_sources()
