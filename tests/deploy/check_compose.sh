#!/usr/bin/env bash
# Validates every Docker Compose file under deploy/ with `docker compose config -q` (Compose v2 plugin)
# or, where only the Debian package exists, `docker-compose config -q` (v1.29). Needs no Docker engine.
set -euo pipefail
root=${1:?usage: check_compose.sh REPO_ROOT}
if docker compose version >/dev/null 2>&1; then dc=(docker compose); 
elif command -v docker-compose >/dev/null 2>&1; then dc=(docker-compose);
else echo "check_compose: neither 'docker compose' nor 'docker-compose' is installed (scripts/bootstrap installs docker-compose)" >&2; exit 1; fi
n=0
while IFS= read -r -d '' f; do
  "${dc[@]}" -f "$f" config -q
  echo "check_compose: $f is valid (${dc[*]})"
  n=$((n + 1))
done < <(find "$root/deploy" -name 'compose*.yaml' -print0)
[ "$n" -gt 0 ] || { echo "check_compose: no compose files found under $root/deploy" >&2; exit 1; }
