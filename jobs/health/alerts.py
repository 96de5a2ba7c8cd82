"""Alert and severity types shared by the detectors, the report, the guard and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("healthy", "watch", "warning", "critical")
HEALTHY, WATCH, WARNING, CRITICAL = range(4)


def severity_name(level: int) -> str:
    return SEVERITIES[level]


def severity_level(name: str) -> int:
    return SEVERITIES.index(name)


@dataclass
class Alert:
    """One rule's finding over a run. `severity` is the highest level confirmed so far (sticky: a
    run that collapsed and then wobbled back is still reported); `current` is the level at the
    latest row. `steps` maps each level reached to the first step it was reached at."""

    rule: str
    severity: str
    first_step: int
    last_step: int
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    current: str = "healthy"

    @property
    def level(self) -> int:
        return severity_level(self.severity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "current": self.current,
            "first_step": self.first_step,
            "last_step": self.last_step,
            "steps": dict(self.steps),
            "message": self.message,
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Alert":
        return cls(
            rule=d["rule"],
            severity=d["severity"],
            first_step=d["first_step"],
            last_step=d["last_step"],
            message=d.get("message", ""),
            evidence=d.get("evidence", {}),
            steps=d.get("steps", {}),
            current=d.get("current", "healthy"),
        )
