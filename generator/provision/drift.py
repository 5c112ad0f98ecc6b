"""What was applied last, and what has been edited by hand since.

Grafana objects carry their own record (a content-hash tag on dashboards, a hash in a data source's jsonData), so
drift there needs no local file. The Loki ruler and the Prometheus/Alertmanager files have no place for a marker:
the state file records, per target, the hash of every object obsctl wrote. It holds hashes and URLs, never tokens.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from generator.provision.plan import Change, Plan

STATE_VERSION = 1


class StateError(Exception):
    """The state file is unreadable; the message names it."""


@dataclass
class BackendState:
    target: str  # where it was applied, e.g. "http://loki:3100 tenant=fake"
    applied_at: str
    objects: dict[str, str] = field(default_factory=dict)  # key -> content hash


@dataclass
class State:
    path: Path
    backends: dict[str, BackendState] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> State:
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            backends = {
                name: BackendState(entry["target"], entry["applied_at"], dict(entry["objects"]))
                for name, entry in data["backends"].items()
            }
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{path}: unreadable provisioning state ({exc}); fix or remove it "
                             "(removing it only loses drift detection for the Loki ruler and rule files)") from exc
        return cls(path, backends)

    def recorded(self, backend: str, target: str) -> dict[str, str] | None:
        """Hashes applied to this very target; None when nothing was recorded for it."""
        entry = self.backends.get(backend)
        return entry.objects if entry and entry.target == target else None

    def previous_target(self, backend: str) -> str | None:
        entry = self.backends.get(backend)
        return entry.target if entry else None

    def record(self, backend: str, target: str, key: str, content_hash: str | None) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        entry = self.backends.get(backend)
        if entry is None or entry.target != target:
            entry = self.backends[backend] = BackendState(target, now)
        entry.applied_at = now
        if content_hash is None:
            entry.objects.pop(key, None)
        else:
            entry.objects[key] = content_hash

    def snapshot(self) -> dict[str, Any]:
        return {name: (e.target, e.applied_at, dict(e.objects)) for name, e in self.backends.items()}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.backends = {name: BackendState(t, at, dict(objs)) for name, (t, at, objs) in snapshot.items()}

    def save(self) -> None:
        """Atomic write: a crash mid-save leaves the previous state, never half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": STATE_VERSION, "backends": {
            name: {"target": e.target, "applied_at": e.applied_at, "objects": dict(sorted(e.objects.items()))}
            for name, e in sorted(self.backends.items())}}
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, self.path)


def drifted(plan: Plan) -> list[Change]:
    """Objects edited by hand since the last apply (whatever the generated tree now says about them)."""
    return [c for c in plan.changes if c.drifted]


def blocked(plan: Plan, prune: bool) -> list[Change]:
    """Writes provision refuses without --force: overwriting hand edits or objects obsctl does not own."""
    return [c for c in plan.writes(prune) if c.blocked_reason]
