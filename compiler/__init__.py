"""The scenec compiler: check `.scene` files and compile them into an artifact."""

from .pipeline import Compiled, CompileError, build, compile_files, compile_paths, front_end
from .reference import Reference

__all__ = ["CompileError", "Compiled", "Reference", "build", "compile_files", "compile_paths",
           "front_end"]
