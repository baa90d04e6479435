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
