"""Prometheus rule files and the Alertmanager config: validated with the real tools, written atomically into
the folder the server loads, then `POST /-/reload` (servers started with --web.enable-lifecycle).

A reload answers 200 only when the new configuration loaded; obsctl then also reads the server's own
`*_config_last_reload_successful` metric. If the server rejects it (500 `failed to reload config`, which no retry
fixes), the previous files are put back and the server reloaded again, so a bad apply never leaves a half-loaded
rule set behind. Before any write, planning checks that each reload URL is the server it should be (Prometheus:
`/api/v1/status/buildinfo`; Alertmanager: `/api/v2/status`), so a swapped URL never gets another server reloaded.

Ownership: a file is obsctl's when its first line is the generated-file header; other files in the folder are
never touched. A rewritten file keeps its owner, group and mode, so the server's user can still read it; a new file
takes the folder's owner and group. Files holding secrets (the Alertmanager config) are never world-readable:
0640 when the group could read the file before (the service's group), else 0600.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from generator.artifacts.alertmanager import MissingSecret, runnable_config_text
from generator.checks.base import run_tool
from generator.conventions import GENERATED_HEADER, TELEGRAM_TEMPLATE_FILE
from generator.provision.config import AlertmanagerTarget, ConfigError, PrometheusTarget, RetryPolicy
from generator.provision.drift import State
from generator.provision.generated import ConfigFile, Desired
from generator.provision.plan import Change, Health
from generator.provision.retry import ProvisionError, TransientError, WrongTargetError, http, with_retries
from generator.truth import TruthError, load_truth

HEADER_LINE = f"# {GENERATED_HEADER}"
# Prometheus (web/web.go) and Alertmanager answer a rejected configuration with 500 and this text: not transient.
RELOAD_REFUSED = "failed to reload config"


def file_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def is_managed(text: str) -> bool:
    return text.split("\n", 1)[0].strip() == HEADER_LINE


@dataclass(frozen=True)
class ReloadedServer:
    backend: str  # "prometheus" / "alertmanager"
    kind: str  # what one file is, for the plan
    folder: Path
    reload_url: str | None
    url_var: str  # the variable to fix when the server refuses us
    folder_var: str
    metric_prefix: str  # <prefix>_config_last_reload_successful
    new_file_mode: int  # for files obsctl creates; an existing file keeps its mode (and so its readers)
    holds_secrets: bool  # never world-readable: 0640 (group could read it) or 0600
    identity_path: str  # read during planning: answers only on the right kind of server
    identity: Callable[[Any], bool]  # is the JSON answer of identity_path this server's?
    kind_name: str  # "a Prometheus server", for messages


@dataclass(frozen=True)
class FileMeta:
    mode: int
    uid: int
    gid: int

    @classmethod
    def of(cls, path: Path) -> FileMeta:
        st = path.stat()
        return cls(st.st_mode & 0o777, st.st_uid, st.st_gid)


def _validate(files: list[ConfigFile], command: list[str], tool: str) -> None:
    """Run the real checker on the files before anything is written."""
    if not files:
        return
    if shutil.which(tool) is None:
        raise ProvisionError(f"{tool} is not installed (run `make deps`): generated files are checked with it "
                             "before they are written")
    with tempfile.TemporaryDirectory(prefix="obsctl-check-") as tmp:
        paths = []
        for file in files:
            path = Path(tmp) / file.name
            path.write_text(file.content, encoding="utf-8")
            paths.append(str(path))
        result = run_tool([tool, *command, *paths], Path(tmp))
    if not result.ok:
        output = result.output.replace(tmp, "")
        raise ProvisionError(f"{tool} rejects {', '.join(f.source for f in files)}:\n{output}")


class ReloadedFilesBackend:
    """Files in a folder a server loads, plus its reload endpoint."""

    def __init__(self, server: ReloadedServer, wanted: list[ConfigFile], timeout: float, policy: RetryPolicy,
                 force: bool, validate_command: list[str], tool: str, only: str | None = None):
        self.server = server
        self.name = server.backend
        self.wanted = wanted
        self.timeout = timeout
        self.policy = policy
        self.force = force
        self.validate_command = validate_command
        self.tool = tool
        self.only = only  # the one file name this backend may touch (Alertmanager), or any *.yml/*.yaml
        self.session = requests.Session()
        self.notes: list[str] = []
        self._backups: dict[str, tuple[str, FileMeta] | None] = {}

    @property
    def description(self) -> str:
        return f"{self.server.folder}" + (f" reload={self.server.reload_url}" if self.server.reload_url else "")

    def _live_files(self) -> dict[str, str]:
        folder = self.server.folder
        if not folder.is_dir():
            raise WrongTargetError(f"{self.server.folder_var}: folder {folder} does not exist; create it (the "
                                   "server must load files from it) or fix the variable")
        found = {}
        for path in sorted(folder.iterdir()):
            if path.is_file() and (path.name == self.only if self.only else path.suffix in (".yml", ".yaml")):
                found[path.name] = path.read_text(encoding="utf-8")
        return found

    # -- plan -------------------------------------------------------------------------------------------------

    def plan(self, desired: Desired, state: State) -> list[Change]:
        del desired  # this backend was built with its files
        if self.server.reload_url:
            self._identify()
        live = self._live_files()
        recorded = state.recorded(self.name, self.description) or {}
        managed_live = {name: text for name, text in live.items() if is_managed(text)}
        if recorded and not managed_live and not self.force:
            raise WrongTargetError(
                f"{self.name}: none of the {len(recorded)} file(s) obsctl wrote to {self.server.folder} is there "
                f"any more: wrong {self.server.folder_var}? Nothing was written; re-run with --force to re-create")
        changes: list[Change] = []
        for file in self.wanted:
            current = live.get(file.name)
            if current is None:
                changes.append(Change(self.name, self.server.kind, file.name, "create", payload=file))
                continue
            drift = file.name in recorded and recorded[file.name] != file_hash(current)
            changed = current != file.content
            fields = (["content"] if changed else []) or (["edited by hand"] if drift else [])
            changes.append(Change(self.name, self.server.kind, file.name, "update" if fields else "unchanged",
                                  fields, drifted=drift, unmanaged=not is_managed(current), payload=file,
                                  live=current))
        wanted = {f.name for f in self.wanted}
        for name, text in managed_live.items():
            if name not in wanted:
                hand_made = name in recorded and recorded[name] != file_hash(text)
                changes.append(Change(self.name, self.server.kind, name, "delete", drifted=hand_made, live=text))
        to_write = [c.payload for c in changes if c.action in ("create", "update")]
        _validate(to_write, self.validate_command, self.tool)
        if not to_write and self.server.reload_url and self._reload_pending(managed_live):
            changes.append(Change(self.name, "reload", self.server.reload_url, "update",
                                  ["files on disk are newer than the last successful reload"]))
        return changes

    def _identify(self) -> None:
        """Refuse a reload URL that answers like another server, before anything is written."""
        url = f"{self.server.reload_url}{self.server.identity_path}"
        what = f"{self.name}: GET {url}"
        wrong = (f"{self.server.url_var} ({self.server.reload_url}) is not {self.server.kind_name}: GET "
                 f"{self.server.identity_path} answered")
        response = with_retries(what, lambda: http(self.session, "GET", url, what=what,
                                                   auth_vars=self.server.url_var, timeout=self.timeout),
                                self.policy)
        if response.status_code != 200:
            raise WrongTargetError(f"{wrong} HTTP {response.status_code}; nothing was written")
        try:
            answer = response.json()
        except ValueError:  # not JSON: some other server's page
            answer = None
        if not self.server.identity(answer):
            raise WrongTargetError(f"{wrong} something else; nothing was written")

    def _reload_metrics(self) -> dict[str, float]:
        what = f"{self.name}: read {self.server.reload_url}/metrics"
        response = with_retries(what, lambda: http(self.session, "GET", f"{self.server.reload_url}/metrics",
                                                   what=what, auth_vars=self.server.url_var,
                                                   timeout=self.timeout), self.policy)
        if response.status_code != 200:
            raise WrongTargetError(f"{what}: HTTP {response.status_code}: is {self.server.url_var} the server's "
                                   "base URL?")
        values = {}
        prefix = f"{self.server.metric_prefix}_config_last_reload_"
        for line in response.text.splitlines():
            if line.startswith(prefix):
                name, _, value = line.partition(" ")
                values[name[len(prefix):]] = float(value)
        if "successful" not in values:
            raise WrongTargetError(f"{what}: no {prefix}successful metric: is {self.server.url_var} "
                                   f"a {self.name} server?")
        return values

    def _reload_pending(self, managed_live: dict[str, str]) -> bool:
        """A previous apply wrote the files but the reload did not happen (server down, interrupted run)."""
        metrics = self._reload_metrics()
        newest = max((os.stat(self.server.folder / name).st_mtime for name in managed_live), default=0.0)
        return metrics["successful"] != 1 or newest > metrics.get("success_timestamp_seconds", 0.0)

    # -- apply ------------------------------------------------------------------------------------------------

    def state_key(self, change: Change) -> str:
        return change.key

    def record_hash(self, change: Change) -> str | None:
        if change.kind == "reload":
            return None
        return None if change.action == "delete" else file_hash(change.payload.content)

    def apply(self, change: Change) -> None:
        if change.kind == "reload":
            return  # done by finish()
        target = self.server.folder / change.key
        try:
            if change.key not in self._backups:
                self._backups[change.key] = (target.read_text(encoding="utf-8"), FileMeta.of(target)) \
                    if target.exists() else None
            if change.action == "delete":
                target.unlink(missing_ok=True)
            else:
                _write_atomically(target, change.payload.content, self._meta_for(target))
        except OSError as exc:
            raise ProvisionError(f"{self.name}: cannot write {target}: {exc.strerror}") from exc

    def _meta_for(self, target: Path) -> FileMeta:
        """Owner, group and mode of the rewritten file: those it had, or the folder's owner and group if new."""
        if target.exists():
            meta = FileMeta.of(target)
        else:
            folder = FileMeta.of(target.parent)
            meta = FileMeta(self.server.new_file_mode, folder.uid, folder.gid)
        if self.server.holds_secrets:
            meta = FileMeta(0o640 if meta.mode & 0o040 else 0o600, meta.uid, meta.gid)
        return meta

    def finish(self, applied: list[Change]) -> str | None:
        """Reload after the writes; on rejection restore the previous files. Returns a note for the report."""
        if not applied:
            return None
        if not self.server.reload_url:
            return (f"{self.name}: files written to {self.server.folder}; no {self.server.url_var} set, so reload "
                    "the server yourself (POST /-/reload or SIGHUP)")
        try:
            self._reload()
        except ProvisionError as exc:
            self._restore()
            try:
                self._reload()
                restored = "the previous files were restored and reloaded"
            except ProvisionError:
                restored = "the previous files were restored but the reload failed again"
            raise ProvisionError(f"{exc}; {restored}") from exc
        finally:
            self._backups.clear()
        return None

    def health(self, desired: Desired) -> Health:
        del desired  # a reload that succeeded loaded every file; promtool/amtool checked them before
        return Health()

    def _reload(self) -> None:
        what = f"{self.name}: POST {self.server.reload_url}/-/reload"

        def once() -> requests.Response:
            try:
                return http(self.session, "POST", f"{self.server.reload_url}/-/reload", what=what,
                            auth_vars=self.server.url_var, timeout=self.timeout)
            except TransientError as exc:
                if RELOAD_REFUSED in str(exc):  # the server rejected the files: the same files fail again
                    raise ProvisionError(str(exc)) from exc
                raise

        response = with_retries(what, once, self.policy)
        if response.status_code == 404 or response.status_code == 405:
            raise ProvisionError(f"{what}: HTTP {response.status_code}: start {self.name} with "
                                 "--web.enable-lifecycle, or check " + self.server.url_var)
        if response.status_code != 200:
            raise ProvisionError(f"{what}: HTTP {response.status_code}: {response.text.strip()[:300]}")
        if self._reload_metrics()["successful"] != 1:
            raise ProvisionError(f"{what}: the server reports its last reload failed")

    def _restore(self) -> None:
        for name, backup in self._backups.items():
            target = self.server.folder / name
            if backup is None:
                target.unlink(missing_ok=True)
            else:
                _write_atomically(target, *backup)


def _write_atomically(target: Path, content: str, meta: FileMeta) -> None:
    """Replace `target` in one step with `meta`'s mode, owner and group already set, so no reader ever sees the
    file unreadable. The temporary name does not end in .yml/.yaml: a reload in between never picks it up."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
        os.chmod(tmp, meta.mode)
        if (meta.uid, meta.gid) != (os.geteuid(), os.getegid()):
            try:
                os.chown(tmp, meta.uid, meta.gid)
            except PermissionError as exc:
                raise ProvisionError(
                    f"cannot give {target} its owner {meta.uid}:{meta.gid} back (the server's user must keep "
                    "reading it): run provision as that user or as root") from exc
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _is_prometheus_buildinfo(answer: Any) -> bool:
    # {"status": "success", "data": {"version": ...}}; Alertmanager has no such path (404).
    return isinstance(answer, dict) and answer.get("status") == "success" and \
        isinstance(answer.get("data"), dict) and "version" in answer["data"]


def _is_alertmanager_status(answer: Any) -> bool:
    # Alertmanager's API v2 status: cluster, config, uptime, versionInfo; Prometheus answers 404.
    return isinstance(answer, dict) and isinstance(answer.get("versionInfo"), dict) and "config" in answer


def prometheus_backend(target: PrometheusTarget, desired: Desired, timeout: float, policy: RetryPolicy,
                       force: bool) -> ReloadedFilesBackend:
    server = ReloadedServer("prometheus", "rule file", target.rules_dir, target.reload_url, "PROMETHEUS_URL",
                            "PROMETHEUS_RULES_DIR", "prometheus", 0o644, holds_secrets=False,
                            identity_path="/api/v1/status/buildinfo", identity=_is_prometheus_buildinfo,
                            kind_name="a Prometheus server")
    return ReloadedFilesBackend(server, desired.prometheus_rules, timeout, policy, force,
                                ["check", "rules"], "promtool")


DEPLOY_COMMAND = "obsctl alertmanager-config"


def runnable_alertmanager_config(repo: Path, config: ConfigFile) -> str:
    """The committed config carries placeholders for its secrets when its header says so; the runnable one is
    made at deploy time by `obsctl alertmanager-config` from the environment. Its text is never printed."""
    header = [line for line in config.content.splitlines()[:5] if line.startswith("#")]
    if not any(DEPLOY_COMMAND in line for line in header):
        return config.content
    truth_path = repo / "product" / "truth.yaml"
    try:
        # The message templates are read where generation put them, in this repository.
        templates = str((repo / TELEGRAM_TEMPLATE_FILE).resolve())
        return runnable_config_text(load_truth(truth_path, display_path=str(truth_path)), os.environ, templates)
    except TruthError as exc:
        raise ConfigError(f"{config.source}: `{DEPLOY_COMMAND}` could not build the runnable config: "
                          + "; ".join(str(p) for p in exc.problems)) from None
    except MissingSecret as exc:
        raise ConfigError(f"{config.source}: `{DEPLOY_COMMAND}` could not build the runnable config: {exc}") \
            from None


def alertmanager_backend(target: AlertmanagerTarget, desired: Desired, timeout: float, policy: RetryPolicy,
                         force: bool, repo: Path) -> ReloadedFilesBackend:
    server = ReloadedServer("alertmanager", "config", target.config_path.parent, target.reload_url,
                            "ALERTMANAGER_URL", "ALERTMANAGER_CONFIG", "alertmanager", 0o640, holds_secrets=True,
                            identity_path="/api/v2/status", identity=_is_alertmanager_status,
                            kind_name="an Alertmanager")
    config = desired.alertmanager_config
    wanted = [ConfigFile(target.config_path.name, runnable_alertmanager_config(repo, config), config.source)] \
        if config else []
    return ReloadedFilesBackend(server, wanted, timeout, policy, force, ["check-config"], "amtool",
                                only=target.config_path.name)
