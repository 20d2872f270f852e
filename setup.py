"""The course's compiled modules: Cython extensions, built by ``pip install -e .``.

Everything else about the package is in pyproject.toml; setuptools takes ext_modules
from here. An extension this platform cannot build is left out, with the reason printed;
its module then reports itself unavailable, and the rest of the course installs.
"""
import os
import platform
import sys

from setuptools import Extension, setup


def extensions():
    """The extensions of the course that can build here. Each comes with the name that
    SWITCHYARD_WITHOUT knows it by and what keeps it from building (None if nothing
    does); those that cannot are skipped, saying why."""
    candidates = [
        (Extension("impls.greenlet.stackswitch", ["impls/greenlet/stackswitch.pyx"],
                   include_dirs=["impls/greenlet"],  # where the generated C finds its header
                   depends=["impls/greenlet/switch_x86_64.h"],
                   extra_compile_args=["-fcf-protection=none"],  # see switch_x86_64.h
                   optional=True),  # a failed compilation (no C compiler?) fails only this
         "stackswitch", stackswitch_unsupported()),
        (Extension("impls.libev.core", ["impls/libev/core.pyx"], libraries=["ev"]),
         "core", libev_missing()),
        *((hub_extension(module), "hub", None) for module in HUB_COMPILED),
    ]
    buildable = []
    for extension, switch, reason in candidates:
        reason = switched_off(switch) or reason
        if reason:
            print(f"switchyard: not building {extension.name}: {reason}", file=sys.stderr)
        else:
            buildable.append(extension)
    return buildable


def switched_off(switch):
    """Why an extension is left out on request: SWITCHYARD_WITHOUT="core stackswitch hub"
    (names separated by spaces or commas) builds the course as a machine without libev's
    headers, or with a CPU the stack switch does not support, or without a C compiler
    would; `make test-without-extensions` runs the suite on such a build."""
    asked = os.environ.get("SWITCHYARD_WITHOUT", "").replace(",", " ").split()
    if switch in asked:
        return f"switched off by SWITCHYARD_WITHOUT={' '.join(asked)}"
    return None


# The hub's hot path, compiled from its .py sources as gevent compiles its own hub
# modules; a .pxd beside a source declares its extension types. The .py files stay the
# source: where a compiled module is absent, Python imports the .py (impls/hub/build.py).
HUB_COMPILED = ("waiter", "hub", "socket", "task", "waiting", "runtime")


def hub_extension(module):
    """impls.hub.<module> compiled from its .py source; a failed compilation fails
    only this module, which then runs from its source."""
    extension = Extension(f"impls.hub.{module}", [f"impls/hub/{module}.py"], optional=True)
    # Cython would make an extension type picklable; the socket refuses, as the stdlib's does.
    extension.cython_directives = {"auto_pickle": False}
    return extension


def stackswitch_unsupported():
    """Why impls.greenlet.stackswitch cannot build here: it switches x86-64 stacks with
    its own assembly and saves the thread state of CPython 3.11 or 3.12."""
    here = (f"{sys.implementation.name} {platform.python_version()} "
            f"on {platform.machine()} {platform.system()}")
    if sys.implementation.name != "cpython" or sys.version_info[:2] not in ((3, 11), (3, 12)):
        return f"needs CPython 3.11 or 3.12, this is {here}"
    if (platform.machine(), platform.system()) != ("x86_64", "Linux"):
        return f"needs x86-64 Linux, this is {here}"
    return None


def libev_missing():
    """Why impls.libev.core cannot build here: it wraps the system's libev, and needs its
    header, ev.h (Debian's libev-dev, which brings the library to link, -lev, too)."""
    places = ["/usr/include", "/usr/local/include", *os.environ.get("CPATH", "").split(os.pathsep)]
    if not any(place and os.path.isfile(os.path.join(place, "ev.h")) for place in places):
        return "libev headers not found: install libev-dev"
    return None


# Cython, a build requirement, compiles the .pyx sources; its C output stays in the
# temporary build directory, out of the source tree.
setup(ext_modules=extensions(), options={"build_ext": {"cython_c_in_temp": True}})
