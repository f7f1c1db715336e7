#!/usr/bin/env bash
# The whole suite as two pytest processes at once: the cluster tier (tests/cluster, which mostly waits on
# Flux and the API server) beside everything else, so both cores stay busy. The cluster tier's report is
# printed after the other's; the exit code is the first non-zero one. (pytest-xdist's loadgroup would do
# this in one process, but with pytest 9.2 it no longer keeps a group on one worker: two stacks start.)
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=${PYTEST:-.venv/bin/pytest}
mkdir -p ci-artifacts
cluster_log=ci-artifacts/cluster-tier.log
cluster_tmp=$(mktemp -d /tmp/mlflow-gitops-cluster-tier.XXXXXX)
"$PYTEST" tests/cluster -p no:cacheprovider --basetemp="$cluster_tmp/pytest" "$@" > "$cluster_log" 2>&1 &
cluster=$!
trap 'kill "$cluster" 2>/dev/null' INT TERM
"$PYTEST" --ignore=tests/cluster "$@"
rest=$?
wait "$cluster"
tier=$?
rm -rf "$cluster_tmp"
echo "======================= cluster tier (tests/cluster, run alongside the rest) ======================="
cat "$cluster_log"
if [ "$rest" -ne 0 ]; then exit "$rest"; fi
exit "$tier"
