"""scenec: a compiler and runtime for smart-SMS scene rules.

`scenec.runtime` matches messages against a built artifact (it needs only the compiled
core and RE2); `scenec.compiler` checks and builds `.scene` files (it needs Lark);
`scenec.dsl` is the language's parser. This file makes `scenec` a regular package, so a
folder that happens to be called `scenec` (a clone of this repository, say) earlier on
`sys.path` cannot stand in for the installed one; it imports nothing.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`scenec.__version__`, read from the installed metadata when first asked for:
    importing `importlib.metadata` here took a noticeable part of the `scenec` command's
    start-up, before its entry point (`_launch`) can catch Ctrl-C."""
    if name != "__version__":
        raise AttributeError(f"module 'scenec' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("scenec")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree, not installed
        return "0+unknown"
