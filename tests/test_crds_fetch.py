"""fetch_crds against a local HTTP server laid out like raw.githubusercontent.com (no internet needed)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlflow_gitops.crds import CRD_SOURCES, CrdFetchError, CrdSource, default_crd_dir, fetch_crds
from tests.background import serve_in_thread, shut_down

FAKE_CRD = b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: %s\n"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """(document root, base URL) of an HTTP server on 127.0.0.1, stopped after the test."""
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=root))
    thread = serve_in_thread(server, "crd-mirror")
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        shut_down(server, thread)


def publish(root: Path, source: CrdSource, content: bytes) -> None:
    """Put `content` where raw.githubusercontent.com would serve `source`: <repo>/<tag>/<path>."""
    target = root / source.repo / source.tag / source.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


def fake_sources() -> tuple[tuple[CrdSource, bytes], ...]:
    """One small fake file per upstream folder of the real pins, same layout, digests of the fake content."""
    picked = {source.local.split("/")[0]: source for source in CRD_SOURCES}
    fakes = []
    for folder, source in sorted(picked.items()):
        content = FAKE_CRD % folder.encode()
        digest = hashlib.sha256(content).hexdigest()
        fakes.append((CrdSource(source.local, source.repo, source.tag, source.commit, source.path, digest), content))
    return tuple(fakes)


def test_fetch_writes_each_file_at_its_local_path(served: tuple[Path, str], tmp_path: Path) -> None:
    root, base_url = served
    fakes = fake_sources()
    for source, content in fakes:
        publish(root, source, content)
    dest = tmp_path / "crds"
    written = fetch_crds(dest, base_url=base_url, sources=tuple(source for source, _ in fakes))
    assert written == [dest / source.local for source, _ in fakes]
    assert {path.relative_to(dest).parts[0] for path in written} == {
        "argo-cd",
        "cloudnative-pg",
        "external-secrets",
        "flux",
        "prometheus-operator",
        "traefik",
    }
    for (_, content), path in zip(fakes, written, strict=True):
        assert path.read_bytes() == content
    assert sorted(p for p in dest.rglob("*") if p.is_file()) == sorted(written)  # no temporary files left


def test_fetch_of_the_real_pins_reproduces_the_crd_folder(served: tuple[Path, str], tmp_path: Path) -> None:
    crd_dir = default_crd_dir()
    if not all((crd_dir / source.local).is_file() for source in CRD_SOURCES):
        pytest.skip(f"{crd_dir} does not hold the pinned CRD files")
    root, base_url = served
    for source in CRD_SOURCES:
        publish(root, source, (crd_dir / source.local).read_bytes())
    written = fetch_crds(tmp_path / "crds", base_url=base_url)
    for source, path in zip(CRD_SOURCES, written, strict=True):
        assert path.read_bytes() == (crd_dir / source.local).read_bytes()


def test_a_changed_file_is_refused_and_not_written(served: tuple[Path, str], tmp_path: Path) -> None:
    root, base_url = served
    (source, content), *_ = fake_sources()
    publish(root, source, content + b"# changed upstream\n")
    dest = tmp_path / "crds"
    with pytest.raises(CrdFetchError, match="does not match the pinned"):
        fetch_crds(dest, base_url=base_url, sources=(source,))
    assert not dest.exists() or not any(p.is_file() for p in dest.rglob("*"))


def test_a_missing_file_is_an_error(served: tuple[Path, str], tmp_path: Path) -> None:
    _, base_url = served
    (source, _), *_ = fake_sources()
    with pytest.raises(CrdFetchError, match="404"):
        fetch_crds(tmp_path / "crds", base_url=base_url, sources=(source,))


def test_urls_are_raw_github_urls_at_the_pinned_tag() -> None:
    urls = [source.url() for source in CRD_SOURCES]
    assert (
        "https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/v1.30.0/config/crd/bases/"
        "postgresql.cnpg.io_databases.yaml" in urls
    )
    assert all(re.fullmatch(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/v[\d.]+/\S+", url) for url in urls)
    assert len({source.local for source in CRD_SOURCES}) == len(CRD_SOURCES)


def test_pins_match_the_local_crd_folder_and_its_sources_file() -> None:
    crd_dir = default_crd_dir()
    sources_md = crd_dir / "SOURCES.md"
    if not sources_md.is_file():
        pytest.skip(f"{sources_md} not found")
    files = sorted(str(p.relative_to(crd_dir)) for p in crd_dir.rglob("*") if p.suffix in (".yaml", ".yml"))
    assert files == sorted(source.local for source in CRD_SOURCES)
    table = sources_md.read_text()
    for source in CRD_SOURCES:
        assert hashlib.sha256((crd_dir / source.local).read_bytes()).hexdigest() == source.sha256, source.local
        row = next(line for line in table.splitlines() if line.startswith(f"| {source.local} |"))
        assert f"| {source.repo} | {source.tag} " in row and f"| {source.path} |" in row, row


def test_cli_fetches_the_real_pinned_files_from_a_mirror(served, run_cli, tmp_path):
    """`mlflow-gitops crds fetch` with every real pinned file served on loopback: digests match."""
    root, base_url = served
    shared = default_crd_dir()
    for source in CRD_SOURCES:
        publish(root, source, (shared / source.local).read_bytes())
    dest = tmp_path / "cache"
    result = run_cli("crds", "fetch", "--dest", str(dest), "--base-url", base_url)
    assert result.returncode == 0, result.stderr
    assert f"fetched {len(CRD_SOURCES)} CRD files" in result.stdout
    for source in CRD_SOURCES:
        assert (dest / source.local).read_bytes() == (shared / source.local).read_bytes()


def test_cli_fetch_failure_is_reported(served, run_cli, tmp_path):
    _, base_url = served
    result = run_cli("crds", "fetch", "--dest", str(tmp_path / "cache"), "--base-url", base_url)
    assert result.returncode == 1
    assert "error: " in result.stderr and "404" in result.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.yaml"))


def test_a_fetch_into_the_cache_is_found_without_a_setting(served, run_cli, tmp_path, monkeypatch):
    """An installed package (no shared/crds beside it) finds the CRDs `crds fetch` put in its cache."""
    from mlflow_gitops import crds

    root, base_url = served
    shared = default_crd_dir()
    for source in CRD_SOURCES:
        publish(root, source, (shared / source.local).read_bytes())
    xdg = tmp_path / "xdg"
    result = run_cli("crds", "fetch", "--base-url", base_url, env={"XDG_CACHE_HOME": str(xdg)})
    assert result.returncode == 0, result.stderr
    cache = xdg / "mlflow-gitops" / "crds"
    assert f"into {cache}/ (found there by default)" in result.stdout
    monkeypatch.delenv(crds.CRD_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.setattr(crds, "CHECKOUT_CRDS", tmp_path / "no-checkout")
    assert crds.default_crd_dir() == cache
    (cache / CRD_SOURCES[0].local).write_text("changed\n")  # an incomplete or altered cache is not used
    with pytest.raises(FileNotFoundError, match="run `mlflow-gitops crds fetch`"):
        crds.default_crd_dir()
