"""The scenec runtime: load a compiled artifact and match messages.

It needs only the artifact, the compiled core and RE2; it never imports Lark or the
compiler, so a service can embed it alone.
"""

from .artifact import FORMAT_VERSION, ArtifactError
from .handle import Handle
from .match import Action, Match
from .ruleset import Ruleset, load, loads

__all__ = ["FORMAT_VERSION", "Action", "ArtifactError", "Handle", "Match", "Ruleset", "load",
           "loads"]
