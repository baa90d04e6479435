"""`Handle`: what a long-running service holds, so rule sets can be swapped while serving.

A reload loads and validates the new artifact completely before one reference
assignment swaps it in; calls already running keep the rule set they started with. A bad
artifact leaves the current one in place and the error says why.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable, Sequence

from .artifact import ArtifactError
from .match import Match
from .ruleset import Ruleset, load


class Handle:
    def __init__(self, initial: Ruleset | str | os.PathLike[str], *,
                 validate: bool = True) -> None:
        """Serve `initial`: a rule set, or the artifact at a path, which (with `validate`,
        the default) is checked as completely as `reload` checks one. A service started
        on a crafted artifact would otherwise serve it with its malformed scenes skipped
        at every message, where a reload of the same file is refused."""
        if isinstance(initial, Ruleset):
            self._ruleset = initial
        else:
            self._ruleset = load(initial)
            if validate:
                self._ruleset.validate()
        self._lock = threading.Lock()  # serialises reloads, never matches
        self.generation = 0
        self.last_error: str | None = None

    @property
    def ruleset(self) -> Ruleset:
        return self._ruleset

    def reload(self, path: str | os.PathLike[str], *, validate: bool = True) -> Ruleset:
        """Swap in the artifact at `path`; on ArtifactError the old rule set keeps serving.

        With `validate` (the default) every scene record is checked too (`Ruleset.validate`),
        so a swapped-in rule set has no scene that would turn out broken while serving."""
        with self._lock:
            try:
                fresh = load(path)
                if validate:
                    fresh.validate()
            except ArtifactError as exc:
                self.last_error = str(exc)
                raise
            self._ruleset = fresh
            self.generation += 1
            self.last_error = None
            return fresh

    def match(self, text: str, sender: str | None = None, ctx: dict | None = None,
              now: dt.date | dt.datetime | None = None) -> list[Match]:
        return self._ruleset.match(text, sender, ctx, now)

    def best(self, text: str, sender: str | None = None, ctx: dict | None = None,
             now: dt.date | dt.datetime | None = None) -> Match | None:
        return self._ruleset.best(text, sender, ctx, now)

    def match_many(self, texts: Iterable[str], senders: Sequence[str | None] | None = None, *,
                   ctxs: Sequence[dict | None] | None = None,
                   now: dt.date | dt.datetime | None = None,
                   threads: int | None = None) -> list[list[Match]]:
        return self._ruleset.match_many(texts, senders, ctxs=ctxs, now=now, threads=threads)
