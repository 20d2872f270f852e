"""Stands in for the compiled impls.libev.core wherever it has not been built.

The extension (core.pyx, with libev.pxd) wraps the system's libev and is compiled by
``pip install -e .`` where libev's header, ev.h, is found. Python looks for an
extension module before a source file, so this file runs only where there is none,
to say why.
"""
import os

if os.path.isfile("/usr/include/ev.h") or os.path.isfile("/usr/local/include/ev.h"):
    raise ImportError("impls.libev.core is not built: run `pip install -e .`")
raise ImportError("libev headers not found: install libev-dev, then run `pip install -e .`")
