"""Live vs generated, normalised: what to create, update, delete or leave alone.

Normalisation ignores what the server owns (ids, versions, defaults it fills in) so a second run after an apply
plans nothing. A plan line names the fields that differ, never their values: values may hold secrets.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from generator.truth.types import Duration

Action = Literal["create", "update", "delete", "unchanged"]
ACTIONS: tuple[Action, ...] = ("create", "update", "delete", "unchanged")

# Marks everything obsctl writes to Grafana, so --prune can tell its objects from everyone else's.
MANAGED_TAG = "managed-by:obsctl"
HASH_TAG_PREFIX = "obsctl-sha:"


@dataclass
class Change:
    backend: str  # "grafana", "loki ruler", "prometheus", "alertmanager"
    kind: str  # "folder", "datasource", "dashboard", "rule group", "rule file", "config", "reload"
    key: str
    action: Action
    fields: list[str] = field(default_factory=list)  # what differs: paths, never values
    drifted: bool = False  # live differs from what obsctl last applied: edited by hand
    unmanaged: bool = False  # the object exists but obsctl did not create it
    payload: Any = field(default=None, repr=False)  # the desired object (never printed)
    live: Any = field(default=None, repr=False)  # what the target holds now (never printed)

    @property
    def is_write(self) -> bool:
        return self.action != "unchanged"

    @property
    def blocked_reason(self) -> str | None:
        """Why this write needs --force, if it does."""
        if not self.is_write:
            return None
        if self.unmanaged:
            return "exists but was not created by obsctl"
        if self.drifted:
            return "edited by hand since the last apply"
        return None

    def describe(self) -> str:
        text = f"{self.action:<9} {self.backend} {self.kind} {self.key}"
        if self.fields:
            shown = ", ".join(self.fields[:6]) + (f", +{len(self.fields) - 6} more" if len(self.fields) > 6 else "")
            text += f"  ({shown})"
        if self.drifted:
            text += "  [edited by hand since the last apply]"
        if self.unmanaged:
            text += "  [not created by obsctl]"
        return text


@dataclass
class Health:
    """What a server says about the objects it runs after an apply (e.g. Loki rule health)."""

    problems: list[str] = field(default_factory=list)  # objects in error: provision and drift fail on them
    notes: list[str] = field(default_factory=list)  # e.g. rules not evaluated yet


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things left alone, targets skipped

    def writes(self, prune: bool) -> list[Change]:
        return [c for c in self.changes if c.is_write and (prune or c.action != "delete")]

    def kept_deletes(self, prune: bool) -> list[Change]:
        """Deletes that wait for --prune."""
        return [] if prune else [c for c in self.changes if c.action == "delete"]

    def counts(self) -> Counter[str]:
        return Counter(c.action for c in self.changes)

    def lines(self, prune: bool) -> list[str]:
        out = []
        for change in self.changes:
            line = change.describe()
            if change.action == "delete" and not prune:
                line += "  [kept: --prune deletes it]"
            out.append(line)
        counts = self.counts()
        out.append("plan: " + ", ".join(f"{counts.get(a, 0)} {a}" for a in ACTIONS))
        return out


# --- normalisation -----------------------------------------------------------------------------------------------


def canonical(value: Any) -> Any:
    """JSON-comparable form: whole floats become ints (Grafana returns 1.0 for 1), dict order stops mattering."""
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def content_hash(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(canonical(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {} or value == ""


def differences(desired: Any, live: Any, path: str = "") -> list[str]:
    """Paths where `live` does not hold what `desired` says. Keys only the server adds are ignored (its defaults);
    a desired empty value matches an absent one (servers drop empties)."""
    desired, live = canonical(desired), canonical(live)
    if isinstance(desired, dict) and isinstance(live, dict):
        found = []
        for key, value in desired.items():
            sub = f"{path}.{key}" if path else key
            if key not in live:
                if not _empty(value):
                    found.append(sub)
            else:
                found.extend(differences(value, live[key], sub))
        return found
    if isinstance(desired, list) and isinstance(live, list):
        if len(desired) != len(live):
            return [f"{path or '.'} (count {len(live)} -> {len(desired)})"]
        return [d for index, (a, b) in enumerate(zip(desired, live, strict=True))
                for d in differences(a, b, f"{path}[{index}]")]
    return [] if desired == live else [path or "."]


def extra_paths(desired: Any, live: Any, path: str = "") -> list[str]:
    """Paths that hold a value live but are absent from `desired` (e.g. a field the generator stopped setting)."""
    desired, live = canonical(desired), canonical(live)
    if isinstance(desired, dict) and isinstance(live, dict):
        found = []
        for key, value in live.items():
            sub = f"{path}.{key}" if path else key
            if key not in desired:
                if not _empty(value):
                    found.append(sub)
            else:
                found.extend(extra_paths(desired[key], value, sub))
        return found
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        return [p for index, (a, b) in enumerate(zip(desired, live, strict=True))
                for p in extra_paths(a, b, f"{path}[{index}]")]
    return []


def exact_differences(desired: Any, live: Any) -> list[str]:
    """For objects stored as sent: every path that differs, including ones only the live copy has."""
    return differences(desired, live) + extra_paths(desired, live)


# Grafana sets these itself; they say nothing about content.
_DASHBOARD_SERVER_KEYS = ("id", "version", "iteration")


def is_marker_tag(tag: Any) -> bool:
    return tag == MANAGED_TAG or (isinstance(tag, str) and tag.startswith(HASH_TAG_PREFIX))


def normalise_dashboard(body: dict[str, Any]) -> dict[str, Any]:
    result = {k: v for k, v in body.items() if k not in _DASHBOARD_SERVER_KEYS}
    result["tags"] = sorted(t for t in body.get("tags") or [] if not is_marker_tag(t))
    return result


def dashboard_hash_tag(body: dict[str, Any]) -> str | None:
    return next((t[len(HASH_TAG_PREFIX):] for t in body.get("tags") or []
                 if isinstance(t, str) and t.startswith(HASH_TAG_PREFIX)), None)


# The data source fields the API returns, with the value Grafana fills in when none is given.
DATASOURCE_DEFAULTS: dict[str, Any] = {
    "name": "", "type": "", "uid": "", "url": "", "access": "proxy", "isDefault": False, "database": "",
    "user": "", "basicAuth": False, "basicAuthUser": "", "withCredentials": False, "jsonData": {},
}
DATASOURCE_MARKER_KEYS = ("obsctlManaged", "obsctlHash")


def normalise_datasource(body: dict[str, Any]) -> dict[str, Any]:
    """Project onto the fields the API returns, defaults filled; secure values by key only (never readable)."""
    result = {key: body.get(key, default) if body.get(key) is not None else default
              for key, default in DATASOURCE_DEFAULTS.items()}
    result["jsonData"] = {k: v for k, v in (body.get("jsonData") or {}).items() if k not in DATASOURCE_MARKER_KEYS}
    secure = body.get("secureJsonData") or body.get("secureJsonFields") or {}
    result["secureJsonFields"] = sorted(k for k, v in secure.items() if v)
    return result


_RULE_DURATION_KEYS = ("for", "keep_firing_for", "interval")


def normalise_rule_group(group: dict[str, Any]) -> dict[str, Any]:
    """Rule groups as the ruler re-serialises them: durations canonical (60s == 1m), zero `for` and empty maps
    omitted (`omitempty` in the Prometheus rule format)."""

    def clean(node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _RULE_DURATION_KEYS and isinstance(value, str):
                value = str(Duration.parse(value))
                if value == "0s":
                    continue
            if key == "rules" and isinstance(value, list):
                value = [clean(rule) for rule in value]
            if key in ("labels", "annotations") and isinstance(value, dict):
                value = {k: str(v) for k, v in value.items()}
            if key == "expr" and isinstance(value, str):
                value = value.strip()
            if not _empty(value) and value is not False and not (key == "limit" and value == 0):
                out[key] = value
        return out

    return clean(group)
