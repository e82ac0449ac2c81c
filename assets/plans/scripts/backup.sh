#!/bin/sh
# A stand-in for the database backup a runbook takes before a release:
# writes a small marker file under $TMPDIR and says where, so the check's
# output (kept with the rollout) shows what was "backed up".
set -eu
app="${1:?usage: backup.sh APP NAMESPACE ROLLOUT}"
namespace="${2:-default}"
rollout="${3:-0}"
dir="${TMPDIR:-/tmp}/flightdeck-backups"
mkdir -p "$dir"
file="$dir/$namespace-$app-$rollout.txt"
date -u +"backup of $namespace/$app for rollout $rollout at %Y-%m-%dT%H:%M:%SZ" >"$file"
echo "backup written to $file"
