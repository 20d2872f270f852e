"""Stands in for the compiled impls.greenlet.stackswitch wherever it has not been built.

The extension (stackswitch.pyx, with stackswitch.pxd and switch_x86_64.h) is compiled by
``pip install -e .`` on CPython 3.11 or 3.12 on x86-64 Linux. Python looks for an extension
module before a source file, so this file runs only where there is none, to say why.
"""
import platform
import sys

raise ImportError(
    f"impls.greenlet.stackswitch is not built ({sys.implementation.name} "
    f"{platform.python_version()}, {platform.machine()} {platform.system()}): `pip install -e .` "
    "builds it on CPython 3.11 and 3.12 on x86-64 Linux, unless SWITCHYARD_WITHOUT names it")
