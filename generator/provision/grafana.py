"""Grafana through `grafana-client`: the dashboards' folder, data sources and dashboards.

Ownership: dashboards carry the tag `managed-by:obsctl` plus `obsctl-sha:<hash>` (hash of the content obsctl
wrote), data sources carry `jsonData.obsctlManaged` and `jsonData.obsctlHash`. An object without the marker is
never changed or deleted unless --force adopts it. The hash makes drift visible without any local state.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import niquests
from grafana_client import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaServerError,
    GrafanaTimeoutError,
)

from generator.provision.config import DEFAULT_GRAFANA_FOLDER, GrafanaTarget, RetryPolicy
from generator.provision.drift import State
from generator.provision.generated import Desired
from generator.provision.plan import (
    HASH_TAG_PREFIX,
    MANAGED_TAG,
    Change,
    Health,
    content_hash,
    dashboard_hash_tag,
    differences,
    exact_differences,
    is_marker_tag,
    normalise_dashboard,
    normalise_datasource,
)
from generator.provision.retry import (
    ApiBackend,
    AuthError,
    ConflictError,
    ProvisionError,
    TransientError,
    WrongTargetError,
    with_retries,
)

T = TypeVar("T")
BACKEND = "grafana"
AUTH_HINT = "GRAFANA_TOKEN (a service-account token of GRAFANA_URL's organisation, role Editor or Admin)"
SAVE_MESSAGE = "obsctl provision (generated from product/truth.yaml)"


class _VersionMismatch(Exception):
    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


def folder_uid_for(title: str) -> str:
    """A stable uid for the folder obsctl creates (Grafana uids are at most 40 characters)."""
    return "obsctl-" + (re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:33] or "folder")


def dashboard_for_upload(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The dashboard as obsctl sends it (marker tags added) and the hash of its content."""
    sent = copy.deepcopy(body)
    tags = [t for t in sent.get("tags") or [] if not is_marker_tag(t)]
    digest = content_hash(normalise_dashboard(sent))
    sent["tags"] = [*tags, MANAGED_TAG, HASH_TAG_PREFIX + digest]
    sent["id"] = None
    sent.pop("version", None)
    return sent, digest


def datasource_for_upload(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    sent = copy.deepcopy(body)
    digest = content_hash(normalise_datasource(sent))
    sent["jsonData"] = {**(sent.get("jsonData") or {}), "obsctlManaged": True, "obsctlHash": digest}
    return sent, digest


class GrafanaBackend(ApiBackend):
    name = BACKEND
    target: GrafanaTarget

    def __init__(self, target: GrafanaTarget, timeout: float, policy: RetryPolicy, force: bool = False):
        super().__init__(target, timeout, policy, force)
        self.api = GrafanaApi.from_url(target.url, credential=target.token.reveal(), timeout=timeout)
        self.folder = target.folder or DEFAULT_GRAFANA_FOLDER
        self.folder_uid = folder_uid_for(self.folder)
        self.notes: list[str] = []

    def choose_folder(self, desired: Desired) -> None:
        """GRAFANA_FOLDER wins; otherwise the folder the generated dashboards provider names."""
        if self.target.folder is None and desired.folder_title:
            self.folder = desired.folder_title
            self.folder_uid = desired.folder_uid or folder_uid_for(self.folder)

    @property
    def description(self) -> str:
        return f"{self.target.url} folder={self.folder!r}"

    # -- one call, errors mapped, retried on 5xx/time-outs ----------------------------------------------------

    def _call(self, what: str, operation: Callable[[], T], missing_ok: bool = False) -> T | None:
        def once() -> T | None:
            try:
                return operation()
            except GrafanaTimeoutError as exc:
                raise TransientError(f"Grafana {what}: timed out") from exc
            except GrafanaServerError as exc:
                raise TransientError(f"Grafana {what}: HTTP {exc.status_code}") from exc
            except GrafanaClientError as exc:
                status = exc.status_code
                if status in (401, 403):
                    raise AuthError(f"Grafana {what}: HTTP {status}: check {AUTH_HINT}") from exc
                if status == 404 and missing_ok:
                    return None
                if status == 404:
                    raise WrongTargetError(f"Grafana {what}: HTTP 404: is GRAFANA_URL the Grafana base URL "
                                           "(e.g. https://grafana.example.com, no /api suffix)?") from exc
                if status == 412:
                    body = exc.response if isinstance(exc.response, dict) else {}
                    raise _VersionMismatch(str(body.get("status", "precondition-failed"))) from exc
                raise ProvisionError(f"Grafana {what}: HTTP {status}: {_message(exc.response)}") from exc
            except GrafanaException as exc:  # status 0: the request never got an answer
                raise TransientError(f"Grafana {what}: no answer ({type(exc.__cause__).__name__})") from exc
            except niquests.exceptions.RequestException as exc:
                raise TransientError(f"Grafana {what}: cannot connect ({type(exc).__name__})") from exc
            except ValueError as exc:  # an HTML page or another server's answer
                raise WrongTargetError(f"Grafana {what}: the answer is not Grafana's JSON: check GRAFANA_URL") from exc

        return with_retries(f"Grafana {what}", once, self.policy)

    # -- plan -------------------------------------------------------------------------------------------------

    def plan(self, desired: Desired, state: State) -> list[Change]:
        changes: list[Change] = []
        self.choose_folder(desired)
        folders = self._call("list folders", lambda: self.api.folder.get_all_folders())
        if not isinstance(folders, list):
            raise WrongTargetError("Grafana list folders: unexpected answer: check GRAFANA_URL")
        folder = next((f for f in folders if f.get("title") == self.folder), None)
        if folder is None:
            changes.append(Change(BACKEND, "folder", self.folder, "create",
                                  payload={"uid": self.folder_uid, "title": self.folder}))
        else:
            self.folder_uid = folder["uid"]
            changes.append(Change(BACKEND, "folder", self.folder, "unchanged"))

        changes.extend(self._plan_datasources(desired))
        changes.extend(self._plan_dashboards(desired, state, folder_exists=folder is not None))
        return changes

    def _plan_datasources(self, desired: Desired) -> list[Change]:
        if not desired.datasources:
            return []
        live_all = self._call("list data sources", lambda: self.api.datasource.list_datasources()) or []
        by_uid = {d.get("uid"): d for d in live_all}
        by_name = {d.get("name"): d for d in live_all}
        changes = []
        wanted = set()
        for ds in desired.datasources:
            summary = by_uid.get(ds.uid) or by_name.get(ds.name)
            if summary is None:
                changes.append(Change(BACKEND, "datasource", ds.name, "create", payload=ds.body))
                continue
            wanted.add(summary.get("uid"))
            if summary.get("readOnly"):
                self.notes.append(f"grafana: data source {ds.name!r} is provisioned from files (read-only): left "
                                  "to Grafana's file provisioning")
                continue
            # The list is a summary (no basicAuthUser, secureJsonFields...): compare against the full object.
            live = self._call(f"get data source {ds.name}",
                              partial(self.api.datasource.get_datasource_by_uid, summary["uid"])) or summary
            json_data = live.get("jsonData") or {}
            managed = json_data.get("obsctlManaged") is True
            got = normalise_datasource(live)
            want = normalise_datasource(ds.body)
            if not ds.body.get("uid"):
                want["uid"] = got["uid"]  # Grafana assigned one; ours does not say
            fields = differences(want, got)
            drift = managed and json_data.get("obsctlHash") != content_hash(got)
            if drift and not fields:
                fields = ["edited by hand"]
            changes.append(Change(BACKEND, "datasource", ds.name, "update" if fields else "unchanged", fields,
                                  drifted=drift, unmanaged=not managed, payload=ds.body, live=live))
        for live in live_all:
            if (live.get("jsonData") or {}).get("obsctlManaged") is True and live.get("uid") not in wanted:
                changes.append(Change(BACKEND, "datasource", live.get("name", live.get("uid")), "delete", live=live))
        return changes

    def _plan_dashboards(self, desired: Desired, state: State, folder_exists: bool) -> list[Change]:
        hits = self._call("search managed dashboards",
                          lambda: self.api.search.search_dashboards(tag=MANAGED_TAG, type_="dash-db", limit=5000)) or []
        managed_uids = {h["uid"] for h in hits if isinstance(h, dict) and "uid" in h}
        recorded = state.recorded(BACKEND, self.description) or {}
        recorded_dashboards = [k for k in recorded if k.startswith("dashboard/")]
        if recorded_dashboards and not managed_uids and not folder_exists and not self.force:
            raise WrongTargetError(
                f"Grafana at GRAFANA_URL has none of the {len(recorded_dashboards)} dashboards obsctl applied there "
                f"and no folder {self.folder!r}: wrong GRAFANA_URL or organisation? Nothing was written; "
                "re-run with --force to re-create them.")
        changes = []
        for dash in desired.dashboards:
            live = self._get_dashboard(dash.uid)
            if live is None:
                changes.append(Change(BACKEND, "dashboard", dash.uid, "create", payload=dash.body))
                continue
            body = live.get("dashboard") or {}
            meta = live.get("meta") or {}
            if meta.get("provisioned"):
                # Grafana refuses API saves of file-provisioned dashboards: one way in per dashboard.
                self.notes.append(f"grafana: dashboard {dash.uid} is provisioned from files: left to Grafana's "
                                  "file provisioning")
                continue
            managed = MANAGED_TAG in (body.get("tags") or [])
            got = normalise_dashboard(body)
            # Grafana stores a dashboard's JSON as sent: compare exactly, so a field the generator stopped
            # setting is removed too.
            fields = exact_differences(normalise_dashboard(dash.body), got)
            if meta.get("folderUid", "") != self.folder_uid:
                fields.append("folder")
            drift = managed and dashboard_hash_tag(body) != content_hash(got)
            if drift and not fields:
                fields = ["edited by hand"]
            changes.append(Change(BACKEND, "dashboard", dash.uid, "update" if fields else "unchanged", fields,
                                  drifted=drift, unmanaged=not managed, payload=dash.body, live=live))
        wanted = {d.uid for d in desired.dashboards}
        for uid in sorted(managed_uids - wanted):
            changes.append(Change(BACKEND, "dashboard", uid, "delete"))
        return changes

    def _get_dashboard(self, uid: str) -> dict[str, Any] | None:
        return self._call(f"get dashboard {uid}", partial(self.api.dashboard.get_dashboard, uid), missing_ok=True)

    # -- apply ------------------------------------------------------------------------------------------------

    def record_hash(self, change: Change) -> str | None:
        """What the state file records for an object once it matches the generated tree."""
        if change.action == "delete":
            return None
        if change.kind == "dashboard":
            return dashboard_for_upload(change.payload)[1]
        if change.kind == "datasource":
            return datasource_for_upload(change.payload)[1]
        return content_hash(change.key)

    def state_key(self, change: Change) -> str:
        return f"{change.kind}/{change.key}"

    def apply(self, change: Change) -> None:
        if change.kind == "folder":
            try:
                self._call(f"create folder {change.key!r}",
                           lambda: self.api.folder.create_folder(change.payload["title"], uid=change.payload["uid"]))
            except ProvisionError:
                # An earlier attempt whose answer was lost may have created it (409 now): look before failing.
                folders = self._call("list folders", lambda: self.api.folder.get_all_folders()) or []
                if not any(f.get("uid") == change.payload["uid"] for f in folders):
                    raise
        elif change.kind == "datasource":
            self._apply_datasource(change)
        elif change.kind == "dashboard":
            if change.action == "delete":
                self._call(f"delete dashboard {change.key}",
                           lambda: self.api.dashboard.delete_dashboard(change.key), missing_ok=True)
            else:
                self._save_dashboard(change)
        else:
            raise ProvisionError(f"Grafana: cannot apply {change.kind}")

    def finish(self, applied: list[Change]) -> str | None:
        del applied  # every write took effect when it was answered: nothing to reload
        return None

    def health(self, desired: Desired) -> Health:
        del desired  # dashboards and data sources have no evaluation state to read back
        return Health()

    def _apply_datasource(self, change: Change) -> None:
        if change.action == "delete":
            uid = change.live["uid"]
            self._call(f"delete data source {change.key}",
                       lambda: self.api.datasource.delete_datasource_by_uid(uid), missing_ok=True)
            return
        sent, digest = datasource_for_upload(change.payload)
        if change.action == "create":
            try:
                self._call(f"create data source {change.key}", lambda: self.api.datasource.create_datasource(sent))
            except ProvisionError:
                # 409 after a lost answer: fine if what is there now is exactly what we sent.
                live = self._call(f"get data source {change.key}",
                                  partial(self.api.datasource.get_datasource_by_uid, sent.get("uid", "")),
                                  missing_ok=True) if sent.get("uid") else None
                if not live or (live.get("jsonData") or {}).get("obsctlHash") != digest:
                    raise
        else:
            uid = change.live["uid"]
            sent["uid"] = uid
            self._call(f"update data source {change.key}",
                       lambda: self.api.datasource.update_datasource_by_uid(uid, sent))

    def _save_dashboard(self, change: Change) -> None:
        sent, digest = dashboard_for_upload(change.payload)
        version = ((change.live or {}).get("dashboard") or {}).get("version")
        for _ in range(2):
            if version is not None:
                sent["version"] = version
            request = {"dashboard": sent, "folderUid": self.folder_uid, "overwrite": self.force,
                       "message": SAVE_MESSAGE}
            try:
                self._call(f"save dashboard {change.key}", partial(self.api.dashboard.update_dashboard, request))
                return
            except _VersionMismatch as conflict:
                if conflict.status == "name-exists":
                    raise ConflictError(
                        f"Grafana save dashboard {change.key}: another dashboard titled "
                        f"{sent.get('title')!r} already exists in folder {self.folder!r}: rename or delete "
                        "it") from None
                # 412 version-mismatch: someone (or our own timed-out attempt) saved it since we read it.
                live = self._get_dashboard(change.key) or {}
                body = live.get("dashboard") or {}
                if dashboard_hash_tag(body) == digest and content_hash(normalise_dashboard(body)) == digest:
                    return  # our own earlier attempt landed
                if MANAGED_TAG in (body.get("tags") or []) and \
                        dashboard_hash_tag(body) == content_hash(normalise_dashboard(body)):
                    version = body.get("version")  # another obsctl run wrote it, no hand edit: try again
                    continue
                raise ConflictError(
                    f"Grafana save dashboard {change.key}: HTTP 412 {conflict.status}: it was edited while "
                    "provisioning; run `obsctl drift`, then `obsctl provision --force` to overwrite") from None
        raise ConflictError(f"Grafana save dashboard {change.key}: kept changing while provisioning (HTTP 412)")


def _message(response: Any) -> str:
    if isinstance(response, dict):
        return str(response.get("message", ""))[:200]
    return str(response)[:200]
