"""Pinned upstream CustomResourceDefinition files: where they come from, where they live, how to fetch them.

The files under the shared CRD folder (see `default_crd_dir`) are byte-for-byte copies of upstream files
at release tags (see SOURCES.md next to them). `CRD_SOURCES` records, for each, the upstream repository,
tag, commit, path and the SHA-256 of the content, so `fetch_crds` can rebuild the folder and prove the
download is the pinned file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CRD_DIR_ENV = "MLFLOW_GITOPS_CRDS"
RAW_BASE_URL = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class CrdSource:
    """One pinned upstream file: `local` is its path relative to the CRD folder."""

    local: str
    repo: str
    tag: str
    commit: str
    path: str
    sha256: str

    def url(self, base_url: str = RAW_BASE_URL) -> str:
        """Raw download URL: `<base_url>/<repo>/<tag>/<path>`."""
        return f"{base_url.rstrip('/')}/{self.repo}/{self.tag}/{self.path}"


_CNPG = ("cloudnative-pg/cloudnative-pg", "v1.30.0", "4b5e244a7d031f67e025c83c1555e7726ecbbfa1")
_ESO = ("external-secrets/external-secrets", "v2.9.0", "378bdb622ed9712ef4a58370f6a17af033b7d343")
_TRAEFIK = ("traefik/traefik", "v3.7.9", "d0bd2ec198533d760c1abfc74b98033d6d92d039")
_PROM = ("prometheus-operator/prometheus-operator", "v0.93.0", "f8fafd475f3d132e239432ae6172de60a6cb6516")
_FLUX_KUSTOMIZE = ("fluxcd/kustomize-controller", "v1.9.4", "1324b615da01038e2859cbcde604bd5434f21933")
_FLUX_SOURCE = ("fluxcd/source-controller", "v1.9.1", "092bcff3c9c3f258a44310507201d295ff294ba6")
_ARGO = ("argoproj/argo-cd", "v3.5.1", "109ca7ca71139e514114499d294a492e7910a965")


def _cnpg(name: str, sha256: str) -> CrdSource:
    return CrdSource(f"cloudnative-pg/{name}", *_CNPG, f"config/crd/bases/{name}", sha256)


def _eso(name: str, sha256: str) -> CrdSource:
    return CrdSource(f"external-secrets/{name}", *_ESO, f"config/crds/bases/{name}", sha256)


def _prom(name: str, sha256: str) -> CrdSource:
    return CrdSource(f"prometheus-operator/{name}", *_PROM, f"example/prometheus-operator-crd/{name}", sha256)


CRD_SOURCES: tuple[CrdSource, ...] = (
    _cnpg("postgresql.cnpg.io_backups.yaml", "694bafce2eda4603629657c2141a89189c15250c74215002a6987538d3d78ff5"),
    _cnpg(
        "postgresql.cnpg.io_clusterimagecatalogs.yaml",
        "a409d4e9418110672d14c263793d0458dd328f794caac668671c08c257e762ae",
    ),
    _cnpg("postgresql.cnpg.io_clusters.yaml", "ae47f4a00f6e998faef57e480f9a3960cd48ea16a79270861fc7442601507472"),
    _cnpg("postgresql.cnpg.io_databaseroles.yaml", "bbe900fb057c5ea29bb3f41537b941eee80f528f22733e54a5b2704c4bd9516d"),
    _cnpg("postgresql.cnpg.io_databases.yaml", "53f7dfca6d23eb70246f41f1e7db596f8782341cd4fffb6ad990107cc8a588e7"),
    _cnpg(
        "postgresql.cnpg.io_failoverquorums.yaml", "c97e5376830385bf47f2d669269e40812ae9251668dbf630d25f94361a82413f"
    ),
    _cnpg("postgresql.cnpg.io_imagecatalogs.yaml", "dce0b11005f65a4728144c155a78183169eeb63d42c57b6af6270b4fbdf2b8aa"),
    _cnpg("postgresql.cnpg.io_poolers.yaml", "9e0dad05355f72dceb154a12b43ebe8a410d470133ad228bf711c1fdee221124"),
    _cnpg("postgresql.cnpg.io_publications.yaml", "481121c9f7232402726364a7331f8684ce540c45805574e20a11b6dfb36fd2df"),
    _cnpg(
        "postgresql.cnpg.io_scheduledbackups.yaml", "1dffb969a92ed6b09abe59d9c848ff97c6646c7824e75f8e0b8379df8473a145"
    ),
    _cnpg("postgresql.cnpg.io_subscriptions.yaml", "d6ed0223df8a7898ff10b9ca6c2d2543144cade69f351adaff349da6b97458f5"),
    _eso(
        "external-secrets.io_externalsecrets.yaml", "5044be5a610ca90a075f34f03ed20b462695c43387ba9410db7f4250e47b1e2f"
    ),
    _eso("external-secrets.io_secretstores.yaml", "7f750858d393913915a2f15daff9e1d2f56ca207c09920c055d7a68cceacb641"),
    _eso(
        "external-secrets.io_clustersecretstores.yaml",
        "f847c69ae317a76527fc37c163ddfe15d9026e14eb47dd325319e914e0433c2a",
    ),
    _eso("external-secrets.io_pushsecrets.yaml", "1d97b97b4aca0799bc8dc05d45d34adf2265ae5c3a87268026b6aafb1718f4ec"),
    _eso(
        "generators.external-secrets.io_passwords.yaml",
        "72ef666dcd0e24b71a2a8fe122ed01c86203f7a3a323ea90dc77a604b6a263da",
    ),
    CrdSource(
        "traefik/kubernetes-crd-definition-v1.yml",
        *_TRAEFIK,
        "docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml",
        "1d5e8558803804562238b0d4a57174aadd6d87c36e3c4c55199ebcc356a9406c",
    ),
    _prom(
        "monitoring.coreos.com_servicemonitors.yaml", "a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32"
    ),
    _prom("monitoring.coreos.com_podmonitors.yaml", "45a93443daa687d3654f7e9631909ff7edcdf3ec09c5e60251b74aa2722aee5d"),
    _prom(
        "monitoring.coreos.com_prometheusrules.yaml", "78be98554b9c8506ab2b4f4feb91c5f3a56e536a0a510f3a8e876a459970d56d"
    ),
    CrdSource(
        "flux/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        *_FLUX_KUSTOMIZE,
        "config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        "da23ca0e6b4c80d3d26a91583137491e147ef4ef1e2208aece0d0af4ef851974",
    ),
    CrdSource(
        "flux/source.toolkit.fluxcd.io_gitrepositories.yaml",
        *_FLUX_SOURCE,
        "config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml",
        "39a5a46c81539c992abc53f9be3e5434cd70d50a10d169b1e8a450e0df1c9d09",
    ),
    CrdSource(
        "argo-cd/application-crd.yaml",
        *_ARGO,
        "manifests/crds/application-crd.yaml",
        "5dde0e229249b6b707beb98674c1deae3949d5c319a6c45b9f5a80c99618e40c",
    ),
    CrdSource(
        "argo-cd/appproject-crd.yaml",
        *_ARGO,
        "manifests/crds/appproject-crd.yaml",
        "ab225266944322750136f1198d93786e4a79a0e43c8d149abfba44da30a3eac8",
    ),
)


class CrdFetchError(RuntimeError):
    """A pinned CRD file could not be downloaded or does not match its pinned digest."""


def cache_dir() -> Path:
    """Where `crds fetch` puts the files by default: `$XDG_CACHE_HOME/mlflow-gitops/crds` (~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlflow-gitops" / "crds"


def is_complete(folder: Path, sources: tuple[CrdSource, ...] = CRD_SOURCES) -> bool:
    """Every pinned file is in `folder`, with its pinned content."""
    for source in sources:
        path = folder / source.local
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != source.sha256:
            return False
    return True


CHECKOUT_CRDS = Path(__file__).resolve().parents[1].parent / "shared" / "crds"
"""The CRD folder beside a source checkout (the project's own machines); an installed package has none."""


def default_crd_dir() -> Path:
    """The CRD folder: `$MLFLOW_GITOPS_CRDS` if set, else the cache `crds fetch` fills when it is complete,
    else `shared/crds` beside a source checkout. FileNotFoundError says how to get one."""
    override = os.environ.get(CRD_DIR_ENV)
    if override:
        return Path(override)
    if is_complete(cache_dir()):
        return cache_dir()
    if CHECKOUT_CRDS.is_dir():
        return CHECKOUT_CRDS
    raise FileNotFoundError(
        f"no CRD folder: run `mlflow-gitops crds fetch` (it fills {cache_dir()}) or set {CRD_DIR_ENV} to a folder "
        "holding the pinned files"
    )


def _download(url: str, timeout: float) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise CrdFetchError(f"{url}: only http(s) URLs are fetched")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bytes(response.read())
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise CrdFetchError(f"{url}: {exc}") from exc


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch_crds(
    dest: Path, base_url: str = RAW_BASE_URL, timeout: float = 60.0, sources: tuple[CrdSource, ...] = CRD_SOURCES
) -> list[Path]:
    """Download every pinned CRD file into `dest` (same sub-folders as the shared CRD folder).

    Each download is checked against its pinned SHA-256 before it is written (temporary file + rename),
    so `dest` never holds a partial or unexpected file. `base_url` replaces `https://raw.githubusercontent.com`
    (a mirror, or a local server in tests). Returns the written paths, in `sources` order.
    """
    written = []
    for source in sources:
        url = source.url(base_url)
        content = _download(url, timeout)
        digest = hashlib.sha256(content).hexdigest()
        if digest != source.sha256:
            raise CrdFetchError(f"{url}: sha256 {digest} does not match the pinned {source.sha256}")
        target = dest / source.local
        _write_atomically(target, content)
        written.append(target)
    return written
