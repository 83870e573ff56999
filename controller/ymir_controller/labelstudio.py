"""A small client of Label Studio's REST API (legacy ``Token`` auth), and nothing more.

Every call raises :class:`Unavailable` when Label Studio cannot be reached or answers 5xx (the caller
waits and tries again), :class:`ProjectGone` when the project answers 404, and :class:`LabelStudioError`
for any other refusal, with Label Studio's own words. The client never deletes tasks or annotations.
"""

from __future__ import annotations

from typing import Any

import httpx


class LabelStudioError(Exception):
    """Label Studio refused a request."""


class Unavailable(LabelStudioError):
    """Label Studio cannot be reached, or answered with a server error."""


class ProjectGone(LabelStudioError):
    """The project no longer exists in Label Studio."""


class LabelStudio:
    """Calls to one Label Studio server."""

    def __init__(
        self, url: str, token: str, *, timeout: float = 60.0, export_timeout: float = 3600.0
    ) -> None:
        self.url = url.rstrip("/")
        self.export_timeout = export_timeout
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Token {token}"}, timeout=timeout
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _call(self, method: str, path: str, *, project: int | None = None, **kwargs: Any) -> Any:
        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise Unavailable(f"Label Studio at {self.url} cannot be reached ({type(e).__name__})") from e
        if r.status_code >= 500:
            raise Unavailable(f"Label Studio at {self.url} answered {r.status_code} to {method} {path}")
        if r.status_code == 404 and project is not None:
            raise ProjectGone(f"project {project} no longer exists in Label Studio at {self.url}")
        if r.status_code == 401:
            raise LabelStudioError(
                f"Label Studio at {self.url} refused the API token (401); set YMIR_LABEL_STUDIO_TOKEN to the "
                "token Label Studio was started with (label_studio/ls.sh token)"
            )
        if r.status_code >= 400:
            raise LabelStudioError(f"Label Studio refused {method} {path} ({r.status_code}): {r.text[:300]}")
        return r.json() if r.content else None

    def version(self) -> str:
        """Label Studio's release (also a cheap health check)."""
        return str(self._call("GET", "/api/version").get("release", ""))

    def find_project(self, marker: str) -> dict[str, Any] | None:
        """The project whose description holds ``marker`` (how a restarted task finds its project)."""
        page = 1
        while True:
            body = self._call("GET", "/api/projects", params={"page": page, "page_size": 100})
            items = body.get("results", []) if isinstance(body, dict) else body
            for p in items:
                if marker in (p.get("description") or ""):
                    return dict(p)
            if not isinstance(body, dict) or not body.get("next"):
                return None
            page += 1

    def create_project(self, *, title: str, description: str, label_config: str, instruction: str) -> int:
        """A new project; returns its id."""
        body = {
            "title": title[:50],
            "description": description,
            "label_config": label_config,
            "expert_instruction": instruction,
            "show_instruction": bool(instruction),
            "show_skip_button": True,
        }
        return int(self._call("POST", "/api/projects", json=body)["id"])

    def project(self, project_id: int) -> dict[str, Any]:
        """The project with its counters (``task_number``, ``num_tasks_with_annotations`` ...)."""
        return dict(self._call("GET", f"/api/projects/{project_id}", project=project_id))

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> int:
        """Import tasks in one request (Label Studio stores them in one transaction); returns the count."""
        body = self._call("POST", f"/api/projects/{project_id}/import", project=project_id, json=tasks)
        return int(body.get("task_count", 0))

    def task_count(self, project_id: int) -> int:
        """How many tasks the project holds."""
        return int(self.project(project_id).get("task_number") or 0)

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """Every task with all its annotations and predictions (lossless JSON).

        Label Studio builds the whole export before answering (minutes for 10,000 tasks on a busy
        machine), so this call waits up to ``export_timeout``; retrying sooner would start another."""
        body = self._call(
            "GET",
            f"/api/projects/{project_id}/export",
            project=project_id,
            params={"exportType": "JSON", "download_all_tasks": "true"},
            timeout=self.export_timeout,
        )
        return list(body)

    def webhooks(self, project_id: int) -> list[dict[str, Any]]:
        """The project's webhooks."""
        return list(self._call("GET", "/api/webhooks", params={"project": project_id}))

    def add_webhook(self, project_id: int, url: str) -> None:
        """Ask Label Studio to call ``url`` when an annotation changes (a wake-up; payloads are not read)."""
        body = {
            "project": project_id,
            "url": url,
            "send_payload": False,
            "actions": ["ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"],
        }
        self._call("POST", "/api/webhooks", project=project_id, json=body)

    def users(self) -> list[dict[str, Any]]:
        """The organisation's users."""
        body = self._call("GET", "/api/users", params={"page_size": 1000})
        return list(body.get("results", []) if isinstance(body, dict) else body)

    def invite_url(self) -> str:
        """The organisation's sign-up link (annotators join with it and then see its projects)."""
        body = self._call("GET", "/api/invite")
        link = str(body.get("invite_url", ""))
        return link if link.startswith("http") else f"{self.url}{link}"
