"""Open or update the pull request of a published branch through the REST API of Gitea (or Forgejo: same API).

Settings come from the environment: `GITEA_TOKEN` (required; sent as `Authorization: token ...`, never printed),
`GITEA_URL` (the server's base URL, e.g. https://git.example.com; the API is at `/api/v1`; when unset, what precedes
`/owner/name` in an http(s) `--repo` URL) and `GITEA_REPOSITORY` (`owner/name`, used when the `--repo` URL names
none). The requests (routers/api/v1/api.go and repo/pull.go of Gitea 1.27):

- `GET /api/v1/repos/{owner}/{repo}/pulls?state=open&base_branch={base}&limit=50&page={n}`, page by page (the
  `X-Total-Count` header says how many), keeping the pull request whose head is `{branch}` of this repository
  (not `GET .../pulls/{base}/{head}`: it may answer with a closed one and cannot take a base holding a `/`);
- `PATCH /api/v1/repos/{owner}/{repo}/pulls/{index}` with `{"title", "body"}` when one is open,
- else `POST /api/v1/repos/{owner}/{repo}/pulls` with `{"head", "base", "title", "body"}`; its 409 (a pull request
  of head -> base opened meanwhile) turns into the update of that one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from mlflow_gitops.gitops.forge import Forge, ForgeError, PullRequest, repository_from_url

PAGE_SIZE = 50  # Gitea's default [api] MAX_RESPONSE_ITEMS
MAX_PAGES = 200

_HTTP_URL = re.compile(r"^(?P<scheme>https?)://(?:[^@/]+@)?(?P<host>[^/@]+)(?P<path>/.*?)?/*$")


def server_from_url(repo_url: str) -> str | None:
    """`scheme://host[:port][/prefix]` of an http(s) repository URL `.../owner/name[.git]` (credentials dropped)."""
    match = _HTTP_URL.match(repo_url.strip())
    if not match:
        return None
    parts = [p for p in (match["path"] or "").split("/") if p]
    if len(parts) < 2:
        return None
    prefix = "".join(f"/{p}" for p in parts[:-2])
    return f"{match['scheme']}://{match['host']}{prefix}"


class Gitea(Forge):
    kind = "Gitea"

    def __init__(self, token: str, repository: str, url: str, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        super().__init__(token, repository, f"{self.url}/api/v1", timeout)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], repo_url: str, option: str = "--open-pr") -> Gitea:
        """Settings from the environment; ForgeError (exit code 2) names what is missing."""
        token = environ.get("GITEA_TOKEN", "").strip()
        if not token:
            raise ForgeError(
                f"{option} --forge gitea needs a Gitea access token in the environment variable "
                "GITEA_TOKEN (scope: write:repository)",
                2,
            )
        repository = repository_from_url(repo_url) or environ.get("GITEA_REPOSITORY", "").strip()
        if not repository:
            raise ForgeError(
                f"{option}: cannot tell the Gitea repository from --repo; set GITEA_REPOSITORY to owner/name", 2
            )
        url = environ.get("GITEA_URL", "").strip() or server_from_url(repo_url)
        if not url:
            raise ForgeError(
                f"{option}: cannot tell the Gitea server from --repo (not an http(s) URL); set "
                "GITEA_URL to its base URL, e.g. https://git.example.com",
                2,
            )
        if not re.match(r"^https?://[^/]", url):
            raise ForgeError(f"GITEA_URL {url!r}: expected an http(s) URL such as https://git.example.com", 2)
        return cls(token, repository, url)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self._token}", "Accept": "application/json"}

    def hint(self, status: int) -> str:
        return {
            401: "Check GITEA_TOKEN (expired, revoked or mistyped)",
            403: f"The token may lack the scope write:repository, or its user may not write to {self.repository}",
            404: f"No repository {self.repository} at {self.url}, the token cannot see it, or a branch is missing "
            "there (set GITEA_REPOSITORY / GITEA_URL)",
            409: "A pull request of this branch into the base is already open",
            422: "Gitea refused the pull request (no changes between the branches, or they are not branches)",
        }.get(status, "")

    def find(self, branch: str, base: str) -> dict[str, Any] | None:
        """The open pull request of `branch` (of this repository) into `base`, or None."""
        seen = 0
        for page in range(1, MAX_PAGES + 1):
            query = urlencode({"state": "open", "base_branch": base, "limit": PAGE_SIZE, "page": page})
            found, headers = self._send("GET", f"{self._pulls()}?{query}")
            if not isinstance(found, list):
                raise ForgeError(f"GET {self._pulls()}: expected a list of pull requests")
            for pull in found:
                head, into = pull.get("head") or {}, pull.get("base") or {}
                if (
                    head.get("ref") == branch
                    and into.get("ref") == base
                    and head.get("repo_id") == into.get("repo_id")
                    and pull.get("state") == "open"
                ):
                    return dict(pull)
            seen += len(found)
            total = headers.get("X-Total-Count")
            if not found or (total is not None and total.isdigit() and seen >= int(total)):
                return None
        raise ForgeError(f"GET {self._pulls()}: more than {MAX_PAGES * PAGE_SIZE} open pull requests")

    def _update(self, pull: Mapping[str, Any], title: str, body: str) -> PullRequest:
        number = int(pull["number"])
        updated = self._request("PATCH", f"{self._pulls()}/{number}", {"title": title, "body": body})
        return PullRequest(number, str((updated or pull).get("html_url", "")), "updated")

    def open_or_update(self, branch: str, base: str, title: str, body: str) -> PullRequest:
        """Update the open pull request of `branch` into `base`, or open one."""
        existing = self.find(branch, base)
        if existing is not None:
            return self._update(existing, title, body)
        try:
            created = self._request("POST", self._pulls(), {"head": branch, "base": base, "title": title, "body": body})
        except ForgeError as exc:
            opened = self.find(branch, base) if exc.status == 409 else None
            if opened is None:
                raise
            return self._update(opened, title, body)
        return PullRequest(int(created["number"]), str(created.get("html_url", "")), "created")
