"""The course's compiled modules: Cython extensions, built by ``pip install -e .``.

Everything else about the package is in pyproject.toml; setuptools takes ext_modules
from here. An extension this platform cannot build is left out, with the reason printed;
its module then reports itself unavailable, and the rest of the course installs.
"""
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup


def extensions():
    """The extensions of the course, each with what keeps it from building here (or None)."""
    candidates = [
        (Extension("impls.libev.core", ["impls/libev/core.pyx"], libraries=["ev"]),
         libev_missing()),
    ]
    buildable = []
    for extension, reason in candidates:
        if reason:
            print(f"switchyard: not building {extension.name}: {reason}", file=sys.stderr)
        else:
            buildable.append(extension)
    # The generated C goes to build/, out of the source tree.
    return cythonize(buildable, build_dir="build", language_level=3)


def libev_missing():
    """Why impls.libev.core cannot build here: it wraps the system's libev, and needs its
    header, ev.h (Debian's libev-dev, which brings the library to link, -lev, too)."""
    places = ["/usr/include", "/usr/local/include", *os.environ.get("CPATH", "").split(os.pathsep)]
    if not any(place and os.path.isfile(os.path.join(place, "ev.h")) for place in places):
        return "libev headers not found: install libev-dev"
    return None


setup(ext_modules=extensions())
