"""scenec: a compiler and runtime for smart-SMS scene rules.

`scenec.runtime` matches messages against a built artifact (it needs only the compiled
core and RE2); `scenec.compiler` checks and builds `.scene` files (it needs Lark);
`scenec.dsl` is the language's parser. This file makes `scenec` a regular package, so a
folder that happens to be called `scenec` (a clone of this repository, say) earlier on
`sys.path` cannot stand in for the installed one; it imports nothing.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scenec")
except PackageNotFoundError:  # pragma: no cover - run from a source tree, not installed
    __version__ = "0+unknown"
