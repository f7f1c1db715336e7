"""Open or update the pull request of a published branch through a forge's REST API: `Forge` (what every forge
shares: requests, token redaction, error messages) and `GitHub` (Gitea and Forgejo: mlflow_gitops.gitops.gitea).

GitHub's settings come from the environment: `GITHUB_API_URL` (default https://api.github.com; GitHub Enterprise:
https://HOST/api/v3), `GITHUB_TOKEN` (required; sent as a bearer token, never printed) and
`GITHUB_REPOSITORY` (`owner/name`: used when the repository URL does not name one, such as a local path;
a URL like https://github.com/owner/name.git or git@host:owner/name.git wins, because GitHub Actions sets
GITHUB_REPOSITORY to the repository running the workflow). The requests are the ones
GitHub documents for pulls:

- `GET /repos/{owner}/{repo}/pulls?state=open&head={owner}:{branch}&base={base}`
- `PATCH /repos/{owner}/{repo}/pulls/{number}` with `{"title", "body"}` when one is open,
- else `POST /repos/{owner}/{repo}/pulls` with `{"title", "head", "base", "body"}`.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import quote, urlencode

from mlflow_gitops import __version__

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"


USER_AGENT = f"mlflow-gitops/{__version__}"
BODY_LIMIT = 65_536

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_URL_FORMS = (
    re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/]+@)?[^/]+(?::\d+)?/(?P<path>.+?)/*$"),  # https://, ssh://
    re.compile(r"^[A-Za-z0-9._-]+@[^:/]+:(?P<path>.+?)/*$"),  # git@host:owner/name.git
)


class ForgeError(Exception):
    """The API refused or could not be reached. `exit_code` 2 for missing settings (bad input), else 1."""

    def __init__(self, message: str, exit_code: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status
        """The HTTP status of a refusal (None when the API was not reached or did not refuse)."""


@dataclass(frozen=True)
class Comment:
    id: int
    url: str
    action: str
    """created, updated or unchanged."""


COMMENT_MARKER = "<!-- mlflow-gitops diff -->"
"""The first line of the one comment `Forge.comment` keeps on a pull request (found again by it)."""
COMMENT_PAGE_SIZE = 100
MAX_COMMENT_PAGES = 50


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    action: str
    """created or updated."""


def repository_from_url(url: str) -> str | None:
    """`owner/name` of a GitHub-style repository URL (https, ssh or scp-like), else None."""
    for form in _URL_FORMS:
        match = form.match(url.strip())
        if match:
            path = match["path"].removesuffix(".git")
            parts = path.split("/")
            if len(parts) >= 2:
                candidate = "/".join(parts[-2:])
                if _REPOSITORY.match(candidate):
                    return candidate
    return None


class Forge:
    """A forge's REST API at `api_url` for one repository `owner/name`, authenticated by a token that is never
    printed (every error message is cleaned of it). Subclasses give the headers and the hints of each status."""

    kind = "forge"
    """The forge's name in messages ("GitHub API ...")."""

    def __init__(self, token: str, repository: str, api_url: str, timeout: float = 30) -> None:
        if not _REPOSITORY.match(repository):
            raise ForgeError(f"{self.kind.upper()}_REPOSITORY {repository!r}: expected owner/name", 2)
        self._token = token
        self.repository = repository
        self.owner, self.name = repository.split("/")
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def hint(self, status: int) -> str:
        """What a refusal with `status` most likely means ('' when nothing useful can be said)."""
        return ""

    def open_or_update(self, branch: str, base: str, title: str, body: str) -> PullRequest:
        raise NotImplementedError

    def _pulls(self) -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.name, safe='')}/pulls"

    def _issues(self) -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.name, safe='')}/issues"

    def comment(self, number: int, body: str, marker: str = COMMENT_MARKER) -> Comment:
        """Keep one comment of this tool on pull request `number`: the one starting with `marker` is updated
        in place (left alone when it already says `body`), else a new one is posted. GitHub and Gitea share
        the requests: `GET/POST /repos/{owner}/{repo}/issues/{number}/comments`, `PATCH .../issues/comments/{id}`.
        """
        text = f"{marker}\n{body}"
        if len(text) > BODY_LIMIT:
            text = text[: BODY_LIMIT - 100] + "\n\n_(cut: a comment is limited to 65,536 characters)_\n"
        existing = self._find_comment(number, marker)
        if existing is not None:
            ident = int(existing["id"])
            if existing.get("body") == text:
                return Comment(ident, str(existing.get("html_url", "")), "unchanged")
            updated = self._request("PATCH", f"{self._issues()}/comments/{ident}", {"body": text})
            return Comment(ident, str((updated or existing).get("html_url", "")), "updated")
        created = self._request("POST", f"{self._issues()}/{number}/comments", {"body": text})
        return Comment(int(created["id"]), str(created.get("html_url", "")), "created")

    def _find_comment(self, number: int, marker: str) -> dict[str, Any] | None:
        seen: set[Any] = set()
        path = f"{self._issues()}/{number}/comments"
        for page in range(1, MAX_COMMENT_PAGES + 1):
            # GitHub pages with per_page/page; Gitea answers every comment at once (a page repeats: stop there).
            found = self._request("GET", f"{path}?{urlencode({'per_page': COMMENT_PAGE_SIZE, 'page': page})}")
            if not isinstance(found, list):
                raise ForgeError(f"GET {path}: expected a list of comments")
            new = [c for c in found if isinstance(c, dict) and c.get("id") not in seen]
            for item in new:
                if str(item.get("body") or "").startswith(marker):
                    return dict(item)
            if len(new) < COMMENT_PAGE_SIZE:
                return None
            seen.update(c.get("id") for c in new)
        raise ForgeError(f"GET {path}: more than {MAX_COMMENT_PAGES * COMMENT_PAGE_SIZE} comments")

    def _clean(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _send(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> tuple[Any, Message]:
        """The JSON answer (None when empty) and the answer's headers; ForgeError when refused or unreachable."""
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={
                **self.headers(),
                "User-Agent": USER_AGENT,
                **({"Content-Type": "application/json; charset=utf-8"} if data is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw, headers = response.read(), response.headers
        except urllib.error.HTTPError as exc:
            raise ForgeError(self._clean(self._explain(method, path, exc)), status=exc.code) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ForgeError(self._clean(f"cannot reach {self.api_url}: {reason}")) from None
        try:
            return (json.loads(raw) if raw else None), headers
        except json.JSONDecodeError:
            raise ForgeError(f"{method} {path}: the answer is not JSON") from None

    def _request(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        return self._send(method, path, payload)[0]

    def _explain(self, method: str, path: str, exc: urllib.error.HTTPError) -> str:
        try:
            payload = json.loads(exc.read() or b"{}")
        except (json.JSONDecodeError, OSError):
            payload = {}
        message = payload.get("message", "") if isinstance(payload, dict) else ""
        details = []
        for error in payload.get("errors", []) or [] if isinstance(payload, dict) else []:
            if isinstance(error, dict):
                details.append(
                    error.get("message")
                    or " ".join(str(error[k]) for k in ("resource", "field", "code") if error.get(k))
                )
            else:
                details.append(str(error))
        said = "; ".join(x for x in [message, *details] if x) or exc.reason
        hint = self.hint(exc.code)
        return f"{self.kind} API {method} {path}: {exc.code}: {said}" + (f". {hint}" if hint else "")


class GitHub(Forge):
    kind = "GitHub"

    def __init__(self, token: str, repository: str, api_url: str = DEFAULT_API_URL, timeout: float = 30) -> None:
        super().__init__(token, repository, api_url, timeout)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], repo_url: str, option: str = "--open-pr") -> GitHub:
        """Settings from the environment; ForgeError (exit code 2) names what is missing. With an empty
        `repo_url` the repository is GITHUB_REPOSITORY (the config repository, in GitHub Actions)."""
        token = environ.get("GITHUB_TOKEN", "").strip()
        if not token:
            raise ForgeError(
                f"{option} needs a GitHub token in the environment variable GITHUB_TOKEN "
                "(scopes: contents and pull requests, write)",
                2,
            )
        # The URL first: inside GitHub Actions GITHUB_REPOSITORY is always set, to the repository running the
        # workflow (the config repository), not to the GitOps repository the pull request belongs to.
        repository = repository_from_url(repo_url) or environ.get("GITHUB_REPOSITORY", "").strip()
        if not repository:
            raise ForgeError(
                f"{option}: cannot tell the GitHub repository from --repo; set GITHUB_REPOSITORY to owner/name", 2
            )
        api_url = environ.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
        if not re.match(r"^https?://", api_url):
            raise ForgeError(f"GITHUB_API_URL {api_url!r}: expected an http(s) URL", 2)
        return cls(token, repository, api_url)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": MEDIA_TYPE, "X-GitHub-Api-Version": API_VERSION}

    def hint(self, status: int) -> str:
        return {
            401: "Check GITHUB_TOKEN (expired, revoked or mistyped)",
            403: f"The token may lack permission (pull requests: write) on {self.repository}, or the rate limit "
            "was hit",
            404: f"No repository {self.repository} at {self.api_url}, or the token cannot see it (set "
            "GITHUB_REPOSITORY / GITHUB_API_URL)",
            422: "GitHub refused the pull request (no commits between the branches, or the branch is missing on "
            "GitHub)",
        }.get(status, "")

    def find(self, branch: str, base: str) -> dict[str, Any] | None:
        query = urlencode({"state": "open", "head": f"{self.owner}:{branch}", "base": base})
        found = self._request("GET", f"{self._pulls()}?{query}")
        if not isinstance(found, list):
            raise ForgeError(f"GET {self._pulls()}: expected a list of pull requests")
        return found[0] if found else None

    def open_or_update(self, branch: str, base: str, title: str, body: str) -> PullRequest:
        """Update the open pull request of `branch` into `base`, or open one."""
        if len(body) > BODY_LIMIT:
            body = body[: BODY_LIMIT - 100] + "\n\n_(cut: GitHub limits a body to 65,536 characters)_\n"
        existing = self.find(branch, base)
        if existing is not None:
            number = int(existing["number"])
            updated = self._request("PATCH", f"{self._pulls()}/{number}", {"title": title, "body": body})
            return PullRequest(number, str((updated or existing).get("html_url", "")), "updated")
        created = self._request("POST", self._pulls(), {"title": title, "head": branch, "base": base, "body": body})
        return PullRequest(int(created["number"]), str(created.get("html_url", "")), "created")
