"""The scene language: grammar, typed AST, parser with error recovery, diagnostics."""

from .diagnostics import Diagnostic, DiagnosticBag, SourceCache, Span, render
from .parser import parse_text

__all__ = ["Diagnostic", "DiagnosticBag", "SourceCache", "Span", "parse_text", "render"]
