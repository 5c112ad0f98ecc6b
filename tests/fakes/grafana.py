"""A stateful stand-in for the parts of Grafana's HTTP API obsctl uses (Grafana cannot run on this machine).

It follows the documented contract of Grafana's HTTP API (https://grafana.com/docs/grafana/latest/developers/http_api/
pages folder/, dashboard/, data_source/ and folder_dashboard_search/):
- Authentication: `Authorization: Bearer <service-account token>`; anything else is 401 `{"message": ...}`.
- `GET /api/folders` lists `{id, uid, title}`; `POST /api/folders` `{uid, title}` creates one (409 when the title
  or uid is taken).
- `POST /api/dashboards/db` `{dashboard, folderUid, overwrite, message}` creates or updates by uid. Without
  `overwrite`, a `dashboard.version` that is not the stored one is 412 `{"status": "version-mismatch"}`, and a
  new uid whose title exists in the folder is 412 `{"status": "name-exists"}`. The answer is
  `{id, uid, url, status: "success", version, slug}`; every save bumps the version; the JSON is stored as sent
  with `id`, `uid` and `version` set by the server. A dashboard loaded from provisioning files has
  `meta.provisioned: true` and cannot be saved through the API (400).
- `GET /api/dashboards/uid/{uid}` answers `{dashboard, meta: {folderUid, folderTitle, version, ...}}`, 404
  `{"message": "Dashboard not found"}`; `DELETE /api/dashboards/uid/{uid}` answers `{title, message, id}`.
- `GET /api/search?type=dash-db&tag=...` lists dashboards having every given tag.
- `GET /api/datasources` (a summary of each), `GET|PUT|DELETE /api/datasources/uid/{uid}` (the full object),
  `POST /api/datasources` (409 when the name exists). Stored data sources get the fields Grafana fills in
  (id, orgId, typeLogoUrl, readOnly, version...); `secureJsonData` is never returned, only
  `secureJsonFields: {key: true}`.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

from tests.fakes.server import FakeServer, Reply

DATASOURCE_DEFAULTS = {"access": "proxy", "url": "", "user": "", "database": "", "basicAuth": False,
                       "basicAuthUser": "", "withCredentials": False, "isDefault": False, "jsonData": {},
                       "readOnly": False}


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class FakeGrafana(FakeServer):
    def __init__(self, token: str):
        super().__init__()
        self.token = token
        self.ids = itertools.count(1)
        self.folders: dict[str, dict[str, Any]] = {}  # uid -> folder
        self.dashboards: dict[str, dict[str, Any]] = {}  # uid -> {"dashboard", "folderUid"}
        self.datasources: dict[str, dict[str, Any]] = {}  # uid -> stored data source
        self.secure_values: dict[str, dict[str, str]] = {}  # uid -> secureJsonData as received
        self.file_provisioned: set[str] = set()  # dashboard uids Grafana loaded from provisioning files

    # -- helpers for tests (what a person would do in the UI) -------------------------------------------------

    def add_folder(self, uid: str, title: str) -> None:
        self.folders[uid] = {"id": next(self.ids), "uid": uid, "title": title, "version": 1}

    def add_dashboard(self, body: dict[str, Any], folder_uid: str = "", from_files: bool = False) -> None:
        stored = copy.deepcopy(body)
        stored.update(id=next(self.ids), version=1)
        self.dashboards[stored["uid"]] = {"dashboard": stored, "folderUid": folder_uid}
        if from_files:
            self.file_provisioned.add(stored["uid"])

    def edit_dashboard_in_ui(self, uid: str, edit: Callable[[dict[str, Any]], None]) -> None:
        with self.lock:
            entry = self.dashboards[uid]
            edit(entry["dashboard"])
            entry["dashboard"]["version"] += 1

    def add_datasource(self, body: dict[str, Any]) -> None:
        self._store_datasource(body, None)

    def dashboard(self, uid: str) -> dict[str, Any]:
        return self.dashboards[uid]["dashboard"]

    # -- the API ----------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> Reply:
        if path == "/api/health":
            return Reply(200, {"database": "ok", "version": "11.3.0"})
        if headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, {"message": "Invalid API key"})
        data = json.loads(body) if body else None
        routes: list[tuple[str, str, Callable[..., Reply]]] = [
            ("GET", r"/api/folders$", self._list_folders),
            ("POST", r"/api/folders$", self._create_folder),
            ("GET", r"/api/folders/(?P<uid>[^/]+)$", self._get_folder),
            ("GET", r"/api/search$", self._search),
            ("POST", r"/api/dashboards/db$", self._save_dashboard),
            ("GET", r"/api/dashboards/uid/(?P<uid>[^/]+)$", self._get_dashboard),
            ("DELETE", r"/api/dashboards/uid/(?P<uid>[^/]+)$", self._delete_dashboard),
            ("GET", r"/api/datasources$", self._list_datasources),
            ("POST", r"/api/datasources$", self._create_datasource),
            ("GET", r"/api/datasources/uid/(?P<uid>[^/]+)$", self._get_datasource),
            ("PUT", r"/api/datasources/uid/(?P<uid>[^/]+)$", self._update_datasource),
            ("DELETE", r"/api/datasources/uid/(?P<uid>[^/]+)$", self._delete_datasource),
        ]
        for route_method, pattern, handler in routes:
            match = re.match(pattern, path)
            if match and route_method == method:
                return handler(data=data, query=query, **match.groupdict())
        return Reply(404, {"message": "Not found"})

    def _list_folders(self, **_: Any) -> Reply:
        return Reply(200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders.values()])

    def _get_folder(self, uid: str, **_: Any) -> Reply:
        folder = self.folders.get(uid)
        return Reply(200, folder) if folder else Reply(404, {"message": "folder not found"})

    def _create_folder(self, data: dict[str, Any], **_: Any) -> Reply:
        title = data.get("title")
        if not title:
            return Reply(400, {"message": "folder title cannot be empty"})
        uid = data.get("uid") or f"f{next(self.ids)}"
        if uid in self.folders or any(f["title"] == title for f in self.folders.values()):
            return Reply(409, {"message": "a folder with the same name already exists"})
        self.add_folder(uid, title)
        return Reply(200, self.folders[uid])

    def _search(self, query: dict[str, list[str]], **_: Any) -> Reply:
        tags = query.get("tag", [])
        hits = []
        for uid, entry in sorted(self.dashboards.items()):
            dash = entry["dashboard"]
            if all(t in (dash.get("tags") or []) for t in tags):
                folder = self.folders.get(entry["folderUid"], {})
                hits.append({"id": dash["id"], "uid": uid, "title": dash.get("title"), "type": "dash-db",
                             "tags": dash.get("tags") or [], "url": f"/d/{uid}/{_slug(dash.get('title', ''))}",
                             "folderUid": entry["folderUid"], "folderTitle": folder.get("title", "General")})
        return Reply(200, hits)

    def _save_dashboard(self, data: dict[str, Any], **_: Any) -> Reply:
        dash = copy.deepcopy(data.get("dashboard") or {})
        folder_uid = data.get("folderUid") or ""
        if folder_uid and folder_uid not in self.folders:
            return Reply(400, {"message": "folder not found"})
        if not dash.get("title"):
            return Reply(400, {"message": "Dashboard title cannot be empty"})
        uid = dash.get("uid") or f"d{next(self.ids)}"
        existing = self.dashboards.get(uid)
        if uid in self.file_provisioned:
            return Reply(400, {"message": "Cannot save provisioned dashboard"})
        overwrite = bool(data.get("overwrite"))
        if existing is None:
            for other_uid, other in self.dashboards.items():
                if other["folderUid"] == folder_uid and other["dashboard"].get("title") == dash["title"] \
                        and other_uid != uid and not overwrite:
                    return Reply(412, {"message": "A dashboard with the same name in the folder already exists",
                                       "status": "name-exists"})
            version, dash_id = 1, next(self.ids)
        else:
            if not overwrite and dash.get("version") != existing["dashboard"]["version"]:
                return Reply(412, {"message": "The dashboard has been changed by someone else",
                                   "status": "version-mismatch"})
            version, dash_id = existing["dashboard"]["version"] + 1, existing["dashboard"]["id"]
        dash.update(uid=uid, id=dash_id, version=version)
        self.dashboards[uid] = {"dashboard": dash, "folderUid": folder_uid}
        return Reply(200, {"id": dash_id, "uid": uid, "url": f"/d/{uid}/{_slug(dash['title'])}",
                           "status": "success", "version": version, "slug": _slug(dash["title"])})

    def _get_dashboard(self, uid: str, **_: Any) -> Reply:
        entry = self.dashboards.get(uid)
        if entry is None:
            return Reply(404, {"message": "Dashboard not found"})
        folder = self.folders.get(entry["folderUid"], {})
        dash = entry["dashboard"]
        return Reply(200, {"dashboard": dash, "meta": {
            "type": "db", "slug": _slug(dash.get("title", "")), "version": dash["version"],
            "provisioned": uid in self.file_provisioned,
            "folderUid": entry["folderUid"], "folderTitle": folder.get("title", "General"),
            "url": f"/d/{uid}/{_slug(dash.get('title', ''))}", "canSave": True}})

    def _delete_dashboard(self, uid: str, **_: Any) -> Reply:
        entry = self.dashboards.pop(uid, None)
        if entry is None:
            return Reply(404, {"message": "Dashboard not found"})
        title = entry["dashboard"].get("title")
        return Reply(200, {"title": title, "message": f"Dashboard {title} deleted", "id": entry["dashboard"]["id"]})

    # -- data sources -----------------------------------------------------------------------------------------

    def _store_datasource(self, data: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        stored = {**DATASOURCE_DEFAULTS, **{k: v for k, v in data.items() if k not in ("secureJsonData", "id")}}
        uid = stored.get("uid") or (existing or {}).get("uid") or f"ds{next(self.ids)}"
        secure = dict(self.secure_values.get(uid, {}))
        secure.update(data.get("secureJsonData") or {})
        self.secure_values[uid] = secure
        stored.update(uid=uid, id=(existing or {}).get("id") or next(self.ids), orgId=1,
                      typeLogoUrl=f"public/app/plugins/datasource/{stored.get('type')}/img/logo.svg",
                      version=(existing or {}).get("version", 0) + 1,
                      secureJsonFields={k: True for k, v in secure.items() if v})
        self.datasources[uid] = stored
        return stored

    def _list_datasources(self, **_: Any) -> Reply:
        # The list answer is a summary: no basicAuthUser, withCredentials or secureJsonFields (those need a GET).
        fields = ("id", "uid", "orgId", "name", "type", "typeLogoUrl", "access", "url", "user", "database",
                  "basicAuth", "isDefault", "jsonData", "readOnly")
        return Reply(200, [{k: d[k] for k in fields if k in d} for d in self.datasources.values()])

    def _get_datasource(self, uid: str, **_: Any) -> Reply:
        stored = self.datasources.get(uid)
        return Reply(200, stored) if stored else Reply(404, {"message": "Data source not found"})

    def _create_datasource(self, data: dict[str, Any], **_: Any) -> Reply:
        if not data.get("name") or not data.get("type"):
            return Reply(400, {"message": "Required field name or type missing"})
        if any(d["name"] == data["name"] for d in self.datasources.values()) or data.get("uid") in self.datasources:
            return Reply(409, {"message": "data source with the same name already exists"})
        stored = self._store_datasource(data, None)
        return Reply(200, {"datasource": stored, "id": stored["id"], "message": "Datasource added",
                           "name": stored["name"]})

    def _update_datasource(self, uid: str, data: dict[str, Any], **_: Any) -> Reply:
        existing = self.datasources.get(uid)
        if existing is None:
            return Reply(404, {"message": "Data source not found"})
        stored = self._store_datasource({**data, "uid": uid}, existing)
        return Reply(200, {"datasource": stored, "id": stored["id"], "message": "Datasource updated",
                           "name": stored["name"]})

    def _delete_datasource(self, uid: str, **_: Any) -> Reply:
        if self.datasources.pop(uid, None) is None:
            return Reply(404, {"message": "Data source not found"})
        self.secure_values.pop(uid, None)
        return Reply(200, {"message": "Data source deleted"})
