#!/usr/bin/env sh
# Creates the secret files docker-compose.yml mounts (./secrets/*), each random. The directory is yours alone;
# the files are world-readable because Compose bind-mounts them as they are, and the gateway runs as uid 10001
# inside its container. Existing files are kept, so running it again changes nothing.
set -eu
cd "$(dirname "$0")/.."
mkdir -p secrets
chmod 700 secrets
random() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
write() {
  [ -s "secrets/$1" ] || printf '%s' "$2" > "secrets/$1"
  chmod 644 "secrets/$1"
}
write postgres_password "$(random)"
write database_url "postgres://agentgate:$(cat secrets/postgres_password)@postgres:5432/agentgate"
write admin_api_key "agk_admin_$(random)"
write webhook_encryption_key "$(random)"
write metrics_token "$(random)"
echo "Secrets are in ./secrets (keep them out of version control)."
