"""The mlflow-gitops command line: parse arguments, run config -> render -> output, map errors to exit codes.

Exit codes: 0 success, 2 bad input (config or arguments), 1 anything else.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from mlflow_gitops.config import ConfigError, load_environments
from mlflow_gitops.config.load import ENV_OVERRIDES

EXIT_BAD_INPUT = 2

DESCRIPTION = """\
Render a production MLflow platform (MLflow 3.6 + mlflow-oidc-auth, Keycloak OIDC, CloudNativePG,
MinIO/S3, External Secrets from Vault, Traefik, Prometheus) as plain Kubernetes YAML for a GitOps repo.

Environments are YAML files in the config folder (default: environments/), one per environment,
validated against the JSON Schema in mlflow_gitops/config/schema.json. Without any file the built-in
environment `default` reproduces the old buun-stack module's defaults.
"""

EPILOG = "These environment variables override every environment's config: " + ", ".join(ENV_OVERRIDES) + "."


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", action="append", metavar="NAME", dest="envs",
                        help="environment to use; repeat for several (default: every file in the config "
                             "folder, or the built-in `default` when there is none)")
    parser.add_argument("--config-dir", type=Path, default=Path("environments"), metavar="DIR",
                        help="folder of environment files <name>.yaml (default: environments)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlflow-gitops", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = commands.add_parser(
        "synth", help="validate the config and write the rendered YAML",
        description="Validate the config, render every selected environment in one cdk8s app and write "
                    "<out>/<env>/: one file per object plus kustomization.yaml. Each environment folder is "
                    "replaced atomically; nothing is written when the config is invalid (exit 2).",
        epilog=EPILOG)
    _add_selection(synth)
    synth.add_argument("--out", type=Path, default=Path("dist"), metavar="DIR",
                       help="output folder (default: dist)")
    synth.add_argument("--quiet", action="store_true", help="print nothing on success")

    validate = commands.add_parser(
        "validate", help="validate the config only",
        description="Load and validate the selected environments; print one line per problem (file, key "
                    "path, bad value, what is allowed) and exit 2 if there is any. Renders nothing.",
        epilog=EPILOG)
    _add_selection(validate)

    crds = commands.add_parser("crds", help="the pinned upstream CRD files used to validate rendered output")
    crds_commands = crds.add_subparsers(dest="crds_command", required=True, metavar="COMMAND")
    fetch = crds_commands.add_parser(
        "fetch", help="download the pinned CRD files",
        description="Download every CRD file the tests validate against, from its upstream repository at the "
                    "pinned tag, check its SHA-256 and write it atomically. Point $MLFLOW_GITOPS_CRDS at the "
                    "folder afterwards.")
    fetch.add_argument("--dest", type=Path, default=Path(".crds-cache"), metavar="DIR",
                       help="folder to write (default: .crds-cache)")
    fetch.add_argument("--base-url", default=None, metavar="URL",
                       help="serve the files from a mirror laid out as <repo>/<tag>/<path> "
                            "(default: raw.githubusercontent.com)")
    return parser


def _synth(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    environments = load_environments(args.envs, args.config_dir, os.environ)
    from mlflow_gitops.app import render  # starts Node (jsii): only once the config is known to be valid
    from mlflow_gitops.output import write

    written = write(render(environments), args.out)
    if not args.quiet:
        total: Counter[str] = Counter()
        for item in written:
            total += item.kinds
            print(f"{item.environment}: {sum(item.kinds.values())} objects -> {item.path}/")
        print("objects per kind: " + ", ".join(f"{kind} {count}" for kind, count in sorted(total.items())))
        print(f"synthesized {len(written)} environment(s) in {time.perf_counter() - started:.2f}s")
    return 0


def _validate(args: argparse.Namespace) -> int:
    for env in load_environments(args.envs, args.config_dir, os.environ):
        print(f"{env.name}: ok ({env.source}; {len(env.instances)} instance(s))")
    return 0


def _crds(args: argparse.Namespace) -> int:
    from mlflow_gitops.crds import RAW_BASE_URL, CrdFetchError, fetch_crds

    try:
        written = fetch_crds(args.dest, base_url=args.base_url or RAW_BASE_URL)
    except CrdFetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"fetched {len(written)} CRD files into {args.dest}/ (export MLFLOW_GITOPS_CRDS={args.dest})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"synth": _synth, "validate": _validate, "crds": _crds}[args.command](args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
