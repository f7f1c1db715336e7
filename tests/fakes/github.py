"""A stateful fake of GitHub's pulls REST API (list, get, create, update), for `publish --open-pr`.

A real HTTP server (ThreadingHTTPServer on 127.0.0.1, port 0) that keeps pull requests per repository and
answers with GitHub's payload shapes and status codes:

- `GET /repos/{owner}/{repo}/pulls?state=&head=owner:branch&base=` lists, filtered like GitHub (state
  defaults to open; `head` must be `owner:branch`);
- `GET /repos/{owner}/{repo}/pulls/{number}`;
- `POST /repos/{owner}/{repo}/pulls` with title, head, base (and body, draft): 201 with the pull request;
  422 "Validation Failed" when a field is missing, when an open pull request of the same head and base
  exists ("A pull request already exists for owner:branch."), when head equals base, or when the head branch
  is unknown (if the test told the fake which branches exist);
- `PATCH /repos/{owner}/{repo}/pulls/{number}` with title, body, state, base: 200; 404 for an unknown number.

Every request must carry `Authorization: Bearer <token>` (or `token <token>`) with the configured token
(401 "Requires authentication" / "Bad credentials"), `Accept: application/vnd.github+json` (415 otherwise),
`X-GitHub-Api-Version: 2022-11-28` (400 when missing or unsupported; GitHub itself defaults a missing one,
the fake is stricter so a client that forgets it fails) and a `User-Agent` (403, as GitHub). A body must be
JSON (400 "Problems parsing JSON"). An unknown repository is 404 "Not Found". Every request is recorded
(`requests`), with its headers and decoded JSON body, so tests can assert exactly what was sent.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.background import Service, serve_in_thread, shut_down

API_VERSION = "2022-11-28"
MEDIA_TYPES = ("application/vnd.github+json", "application/vnd.github.v3+json", "application/json")
DOCS = "https://docs.github.com/rest/pulls/pulls"
PULLS = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls(?:/(?P<number>\d+))?/?$")
ISSUE_COMMENTS = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<number>\d+)/comments/?$")
COMMENT = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/comments/(?P<id>\d+)/?$")

Json = dict[str, Any]


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Header names lower-cased."""
    body: Any
    status: int = 0


class _Refusal(Exception):
    def __init__(self, status: int, message: str, errors: list[Json] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload: Json = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors is not None:
            self.payload["errors"] = errors


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGitHub


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = LoggedRequest(self.command, split.path, parse_qs(split.query), headers, None)
        with fake.lock:
            fake.requests.append(entry)
        try:
            if raw:
                try:
                    entry.body = json.loads(raw)
                except json.JSONDecodeError:
                    entry.body = raw.decode("utf-8", "replace")
                    raise _Refusal(400, "Problems parsing JSON") from None
            with fake.lock:
                status, payload = fake.dispatch(entry)
        except _Refusal as refusal:
            status, payload = refusal.status, refusal.payload
        entry.status = status
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Api-Version-Selected", API_VERSION)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


@dataclass
class FakeGitHub(Service):
    token: str
    repositories: Iterable[str] = ("org/gitops",)
    branches: dict[str, set[str]] | None = None
    """repository -> known branch names; when set, POST refuses an unknown head or base (422)."""
    requests: list[LoggedRequest] = field(default_factory=list)
    pulls: dict[str, list[Json]] = field(default_factory=dict)
    comments: dict[str, list[Json]] = field(default_factory=dict)
    """repository -> its issue comments (on pull requests), oldest first."""
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.repositories = {r.lower() for r in self.repositories}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._next = 1

    # --- lifecycle
    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> FakeGitHub:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = serve_in_thread(server, "fake-github")
        return self

    def stop(self) -> None:
        if self._server is not None:
            shut_down(self._server, self._thread)
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- inspection
    def open_pulls(self, repository: str = "org/gitops") -> list[Json]:
        return [p for p in self.pulls.get(repository.lower(), []) if p["state"] == "open"]

    def writes(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.method in {"POST", "PATCH", "PUT", "DELETE"}]

    # --- the API
    def _check_headers(self, request: LoggedRequest) -> None:
        auth = request.headers.get("authorization", "")
        if not auth:
            raise _Refusal(401, "Requires authentication")
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() not in {"bearer", "token"} or credential.strip() != self.token:
            raise _Refusal(401, "Bad credentials")
        if not request.headers.get("user-agent"):
            raise _Refusal(
                403, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"
            )
        accept = [a.split(";")[0].strip() for a in request.headers.get("accept", "").split(",")]
        if not any(a in MEDIA_TYPES for a in accept):
            raise _Refusal(
                415,
                f"Unsupported 'Accept' header: {request.headers.get('accept', '')!r}. Must "
                "accept 'application/vnd.github+json'",
            )
        version = request.headers.get("x-github-api-version")
        if version is None:
            raise _Refusal(400, "The X-GitHub-Api-Version header is required by this fake")
        if version != API_VERSION:
            raise _Refusal(400, f"API version {version} is not supported.")

    def dispatch(self, request: LoggedRequest) -> tuple[int, Any]:
        self._check_headers(request)
        if ISSUE_COMMENTS.match(request.path) or COMMENT.match(request.path):
            return self._comments(request)
        match = PULLS.match(request.path)
        if not match:
            raise _Refusal(404, "Not Found")
        owner, repo = unquote(match["owner"]), unquote(match["repo"])
        repository = f"{owner}/{repo}".lower()
        if repository not in self.repositories:
            raise _Refusal(404, "Not Found")
        pulls = self.pulls.setdefault(repository, [])
        number = int(match["number"]) if match["number"] else None
        if number is None and request.method == "GET":
            return 200, self._list(pulls, request.query)
        if number is None and request.method == "POST":
            return 201, self._create(owner, repo, pulls, request.body)
        if number is not None and request.method in {"GET", "PATCH"}:
            found = next((p for p in pulls if p["number"] == number), None)
            if found is None:
                raise _Refusal(404, "Not Found")
            if request.method == "GET":
                return 200, found
            return 200, self._update(found, request.body)
        raise _Refusal(404, "Not Found")

    def _comments(self, request: LoggedRequest) -> tuple[int, Any]:
        """Issue comments as GitHub keeps them (a pull request is an issue): listed oldest first, 30 per page
        by default (`per_page` at most 100, `page` from 1), posted, and edited by id."""
        match = ISSUE_COMMENTS.match(request.path) or COMMENT.match(request.path)
        assert match is not None
        repository = f"{unquote(match['owner'])}/{unquote(match['repo'])}".lower()
        if repository not in self.repositories:
            raise _Refusal(404, "Not Found")
        comments = self.comments.setdefault(repository, [])
        if "id" in match.groupdict() and match["id"]:
            found = next((c for c in comments if c["id"] == int(match["id"])), None)
            if found is None or request.method != "PATCH":
                raise _Refusal(404, "Not Found")
            if not isinstance(request.body, dict) or not isinstance(request.body.get("body"), str):
                raise _Refusal(
                    422, "Invalid request.", [{"resource": "IssueComment", "field": "body", "code": "missing_field"}]
                )
            found["body"] = request.body["body"]
            found["updated_at"] = "2024-01-02T00:00:00Z"
            return 200, found
        number = int(match["number"])
        if not any(p["number"] == number for p in self.pulls.get(repository, [])):
            raise _Refusal(404, "Not Found")
        if request.method == "GET":
            per_page = min(int(request.query.get("per_page", ["30"])[0]), 100)
            page = int(request.query.get("page", ["1"])[0])
            mine = [c for c in comments if c["issue"] == number]
            return 200, mine[(page - 1) * per_page : page * per_page]
        if request.method == "POST":
            if not isinstance(request.body, dict) or not isinstance(request.body.get("body"), str):
                raise _Refusal(
                    422, "Invalid request.", [{"resource": "IssueComment", "field": "body", "code": "missing_field"}]
                )
            ident = 5000 + sum(len(c) for c in self.comments.values())
            owner, repo = repository.split("/")
            comment = {
                "id": ident,
                "issue": number,
                "body": request.body["body"],
                "html_url": f"https://github.example/{owner}/{repo}/pull/{number}#issuecomment-{ident}",
                "user": {"login": "github-actions[bot]"},
                "created_at": "2024-01-01T00:00:00Z",
            }
            comments.append(comment)
            return 201, comment
        raise _Refusal(404, "Not Found")

    @staticmethod
    def _list(pulls: list[Json], query: dict[str, list[str]]) -> list[Json]:
        state = query.get("state", ["open"])[0]
        if state not in {"open", "closed", "all"}:
            raise _Refusal(422, "Validation Failed", [{"resource": "Search", "field": "state", "code": "invalid"}])
        head = query.get("head", [None])[0]
        base = query.get("base", [None])[0]
        found = []
        for pull in pulls:
            if state != "all" and pull["state"] != state:
                continue
            # GitHub matches `head` as user:ref-name; a bare branch name matches nothing useful.
            if head is not None and pull["head"]["label"] != head:
                continue
            if base is not None and pull["base"]["ref"] != base:
                continue
            found.append(pull)
        return sorted(found, key=lambda p: -p["number"])

    def _create(self, owner: str, repo: str, pulls: list[Json], body: Any) -> Json:
        if not isinstance(body, dict):
            raise _Refusal(400, "Problems parsing JSON")
        missing = [k for k in ("head", "base") if not isinstance(body.get(k), str) or not body.get(k)]
        if "title" not in body and "issue" not in body:
            missing.insert(0, "title")
        if missing:
            raise _Refusal(
                422,
                "Invalid request.",
                [{"resource": "PullRequest", "field": k, "code": "missing_field"} for k in missing],
            )
        head_ref = body["head"].split(":", 1)[-1]
        head_owner = body["head"].split(":", 1)[0] if ":" in body["head"] else owner
        base = body["base"]
        known = (self.branches or {}).get(f"{owner}/{repo}".lower())
        if known is not None:
            for name, value in (("head", head_ref), ("base", base)):
                if value not in known:
                    raise _Refusal(
                        422, "Validation Failed", [{"resource": "PullRequest", "field": name, "code": "invalid"}]
                    )
        if head_ref == base and head_owner.lower() == owner.lower():
            raise _Refusal(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "code": "custom", "message": f"No commits between {base} and {head_ref}"}],
            )
        label = f"{head_owner}:{head_ref}"
        for pull in pulls:
            if pull["state"] == "open" and pull["head"]["label"] == label and pull["base"]["ref"] == base:
                raise _Refusal(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {label}.",
                        }
                    ],
                )
        number = self._next
        self._next += 1
        html = f"https://github.example/{owner}/{repo}/pull/{number}"
        pull = {
            "url": f"{self.url}/repos/{owner}/{repo}/pulls/{number}",
            "id": 1000 + number,
            "number": number,
            "html_url": html,
            "state": "open",
            "locked": False,
            "title": body.get("title") or "",
            "body": body.get("body"),
            "draft": bool(body.get("draft", False)),
            "user": {"login": "mlflow-gitops-bot", "type": "Bot"},
            "head": {"label": label, "ref": head_ref, "user": {"login": head_owner}},
            "base": {"label": f"{owner}:{base}", "ref": base, "user": {"login": owner}},
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "merged": False,
        }
        pulls.append(pull)
        return pull

    @staticmethod
    def _update(pull: Json, body: Any) -> Json:
        if not isinstance(body, dict):
            raise _Refusal(400, "Problems parsing JSON")
        unknown = sorted(set(body) - {"title", "body", "state", "base", "maintainer_can_modify"})
        if unknown:
            raise _Refusal(
                422, "Validation Failed", [{"resource": "PullRequest", "field": k, "code": "invalid"} for k in unknown]
            )
        if "state" in body and body["state"] not in {"open", "closed"}:
            raise _Refusal(422, "Validation Failed", [{"resource": "PullRequest", "field": "state", "code": "invalid"}])
        for key in ("title", "body", "state"):
            if key in body:
                pull[key] = body[key]
        if "base" in body:
            owner = pull["base"]["user"]["login"]
            pull["base"] = {**pull["base"], "ref": body["base"], "label": f"{owner}:{body['base']}"}
        pull["updated_at"] = "2024-01-02T00:00:00Z"
        return pull
