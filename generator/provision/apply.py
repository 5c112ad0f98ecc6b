"""Provisioning, top to bottom: targets -> desired objects -> plan every backend (reads only) -> safety and drift
checks -> writes in order, each retried on 5xx/time-outs -> reloads -> a report of what was and was not applied.

Nothing is written until every backend has been planned, so a wrong URL or tenant found late still aborts
before the first write. Each successful write is recorded in the state file at once, so a run that fails midway
is finished by running it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from generator.provision.config import Targets
from generator.provision.drift import State
from generator.provision.generated import Desired, GeneratedTreeError
from generator.provision.grafana import GrafanaBackend
from generator.provision.loki_ruler import LokiRulerBackend, generated_rule_problems
from generator.provision.plan import Change, Health, Plan
from generator.provision.prometheus import alertmanager_backend, prometheus_backend
from generator.provision.retry import ProvisionError

EXIT_OK = 0
EXIT_APPLY_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNSAFE_TARGET = 3
EXIT_REFUSED = 4


class Backend(Protocol):
    name: str
    notes: list[str]  # things the plan leaves alone on purpose, for the output

    @property
    def description(self) -> str: ...

    def plan(self, desired: Desired, state: State) -> list[Change]: ...

    def apply(self, change: Change) -> None: ...

    def finish(self, applied: list[Change]) -> str | None:
        """After the backend's writes (e.g. a reload); raising here rolls them back. Returns a note."""
        ...

    def state_key(self, change: Change) -> str: ...

    def record_hash(self, change: Change) -> str | None: ...

    def health(self, desired: Desired) -> Health:
        """Read-only: what the server reports about the generated objects it runs (after apply, and for drift)."""
        ...


def build_backends(targets: Targets, desired: Desired, force: bool, repo: Path) -> tuple[list[Backend], list[str]]:
    """The configured backends in apply order (data sources before the dashboards that use them)."""
    backends: list[Backend] = []
    notes = []
    if targets.grafana:
        backends.append(GrafanaBackend(targets.grafana, targets.timeout, targets.retry, force))
    if targets.loki:
        # The ruler accepts some broken rules (and refuses others midway): check every file before any write.
        problems = generated_rule_problems(desired)
        if problems:
            raise GeneratedTreeError("Loki rule files refused, nothing was written:\n  " + "\n  ".join(problems))
        backends.append(LokiRulerBackend(targets.loki, targets.timeout, targets.retry, force))
    if targets.prometheus:
        backends.append(prometheus_backend(targets.prometheus, desired, targets.timeout, targets.retry, force))
    if targets.alertmanager:
        if desired.alertmanager_config is None:
            # Deleting Alertmanager's only config file would stop it from (re)starting: never prune it.
            notes.append("alertmanager: no Alertmanager config under alerts/ yet: skipped")
        else:
            backends.append(alertmanager_backend(targets.alertmanager, desired, targets.timeout, targets.retry,
                                                 force, repo))
    for name, var in (("grafana", "GRAFANA_URL"), ("loki ruler", "LOKI_URL"),
                      ("prometheus", "PROMETHEUS_RULES_DIR"), ("alertmanager", "ALERTMANAGER_CONFIG")):
        if not any(b.name == name for b in backends) and not any(n.startswith(name) for n in notes):
            notes.append(f"{name}: {var} not set: skipped")
    return backends, notes


def check_health(backends: list[Backend], desired: Desired) -> Health:
    health = Health()
    for backend in backends:
        found = backend.health(desired)
        health.problems.extend(found.problems)
        health.notes.extend(found.notes)
    return health


def make_plan(backends: list[Backend], desired: Desired, state: State) -> Plan:
    plan = Plan()
    for backend in backends:
        plan.changes.extend(backend.plan(desired, state))
        plan.notes.extend(backend.notes)
    return plan


def _write_order(change: Change) -> int:
    # Within a backend: creates and updates first, deletes last, so a failure never leaves a gap in coverage.
    return 1 if change.action == "delete" else 0


@dataclass
class Report:
    applied: list[Change] = field(default_factory=list)
    failed: tuple[Change | None, str] | None = None
    not_applied: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"applied   {c.describe()}" for c in self.applied]
        if self.failed:
            change, reason = self.failed
            out.append(f"FAILED    {change.describe() if change else 'reload'}: {reason}")
            out.extend(f"not applied {c.describe()}" for c in self.not_applied)
            out.append(f"{len(self.applied)} applied, {len(self.not_applied) + (1 if change else 0)} not applied. "
                       "Applied objects are recorded: fix the cause and run provision again to finish.")
        out.extend(self.notes)
        return out


def execute(backends: list[Backend], plan: Plan, state: State, prune: bool,
            progress: Callable[[str], None] = lambda _line: None) -> Report:
    """Apply the plan's writes backend by backend. A backend's writes are reported as applied (`progress`) only
    once its finish step (a reload) has accepted them: a rollback never contradicts an earlier line."""
    report = Report()
    writes = plan.writes(prune)
    pending = list(writes)
    for backend in backends:
        mine = sorted((c for c in writes if c.backend == backend.name), key=_write_order)
        before = state.snapshot()
        applied_here: list[Change] = []
        for change in mine:
            try:
                backend.apply(change)
            except ProvisionError as exc:
                report.failed = (change, str(exc))
                pending.remove(change)
                report.not_applied = pending
                if applied_here:  # reload what did land, or roll it back
                    try:
                        note = backend.finish(applied_here)
                        if note:
                            report.notes.append(note)
                        for done in applied_here:
                            progress(f"applied   {done.describe()}")
                    except ProvisionError as reload_exc:
                        state.restore(before)
                        state.save()
                        report.notes.append(str(reload_exc))
                        report.applied = [c for c in report.applied if c not in applied_here]
                        report.not_applied = applied_here + report.not_applied
                return report
            pending.remove(change)
            applied_here.append(change)
            report.applied.append(change)
            state.record(backend.name, backend.description, backend.state_key(change), backend.record_hash(change))
            state.save()
        try:
            note = backend.finish(applied_here)
        except ProvisionError as exc:
            state.restore(before)
            state.save()
            report.failed = (None, str(exc))
            report.applied = [c for c in report.applied if c not in applied_here]
            report.not_applied = applied_here + pending
            return report
        for change in applied_here:
            progress(f"applied   {change.describe()}")
        if note:
            report.notes.append(note)
        # Objects already right are recorded too: the record then describes the whole managed set.
        for change in plan.changes:
            if change.backend == backend.name and change.action == "unchanged" and change.kind != "reload":
                state.record(backend.name, backend.description, backend.state_key(change),
                             backend.record_hash(change))
        state.save()
    return report
