"""The result objects a service receives: plain, immutable, JSON-friendly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Action:
    """A button or menu item: `kind` says how `target` is used (open, dial, copy…)."""

    slot: str  # "button" | "menu"
    kind: str  # url quickapp deeplink tel copy calendar sms
    label: str
    target: str
    params: tuple[tuple[str, str], ...] = ()  # calendar: title; sms: body

    def to_json(self) -> dict[str, Any]:
        return {"slot": self.slot, "kind": self.kind, "label": self.label,
                "target": self.target, "params": dict(self.params)}


@dataclass(frozen=True, slots=True)
class Match:
    scene: str
    name: str
    category: str
    priority: int
    enterprise: str | None
    fields: dict[str, Any]
    highlights: tuple[tuple[str, int, int], ...]  # (field, start, end) into the given str
    actions: tuple[Action, ...]
    tags: tuple[str, ...] = ()
    meta: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "scene": self.scene, "name": self.name, "category": self.category,
            "priority": self.priority, "enterprise": self.enterprise, "fields": self.fields,
            "highlights": [{"field": f, "start": s, "end": e} for f, s, e in self.highlights],
            "actions": [a.to_json() for a in self.actions],
        }



class _Settable:
    """Match's exact slot layout without the frozen `__setattr__`.

    A frozen dataclass's `__init__` sets every field through `object.__setattr__` (about
    1.1 µs for Match's ten fields); plain slot stores cost about 0.3 µs. The runtime builds
    this twin and then gives it Match's class, which CPython allows because the layouts are
    identical. The result is an ordinary, frozen Match in every respect.
    """

    __slots__ = Match.__slots__  # type: ignore[attr-defined]

    def __init__(self, scene: str, name: str, category: str, priority: int,
                 enterprise: str | None, fields: dict[str, Any],
                 highlights: tuple[tuple[str, int, int], ...], actions: tuple[Action, ...],
                 tags: tuple[str, ...], meta: dict[str, str] | None) -> None:
        self.scene = scene
        self.name = name
        self.category = category
        self.priority = priority
        self.enterprise = enterprise
        self.fields = fields
        self.highlights = highlights
        self.actions = actions
        self.tags = tags
        self.meta = meta


def new_match(scene: str, name: str, category: str, priority: int, enterprise: str | None,
              fields: dict[str, Any], highlights: tuple[tuple[str, int, int], ...],
              actions: tuple[Action, ...], tags: tuple[str, ...],
              meta: dict[str, str] | None) -> Match:
    """`Match(...)` for the runtime's hot path (a third of the cost; see `_Settable`)."""
    m: Any = _Settable(scene, name, category, priority, enterprise, fields, highlights,
                       actions, tags, meta)
    m.__class__ = Match
    return m  # type: ignore[no-any-return]


def _check_twin() -> bool:
    """Whether the class swap works here (it needs identical slot layouts)."""
    try:
        m = new_match("s", "n", "c", 0, None, {}, (), (), (), None)
    except TypeError:
        return False
    return m == Match("s", "n", "c", 0, None, {}, (), (), (), None)


if not _check_twin():  # pragma: no cover - a Python without layout-compatible class swaps
    new_match = Match  # type: ignore[assignment]  # noqa: F811
