"""The `scenec` command's entry point. The CLI's modules (Lark, the compiler, the runtime)
take a moment to import, and Ctrl-C in that moment printed a KeyboardInterrupt traceback
from inside the import machinery, before `scenec.compiler.cli.main` could catch it; here
it is the CLI's one line and exit 130 as well."""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130  # as scenec.compiler.cli's, which cannot be imported yet


def main() -> int:
    try:
        from .compiler.cli import main as cli_main
    except KeyboardInterrupt:
        print("scenec: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return cli_main()
