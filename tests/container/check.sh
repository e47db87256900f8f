#!/usr/bin/env bash
# The image and compose.yaml, tried as a user would: build the image, run it
# until Docker calls it healthy, check it is not root, store a webhook, restart,
# find it still there (SQLite in the /data volume); then `docker compose up`:
# migrations in the one-shot service, two healthy instances on one PostgreSQL,
# the same delivery sent to each stored once; `docker compose down -v`.
#
# Needs a Docker engine with Compose v2 and BuildKit (on these machines:
# ../shared/tools/container-engine.sh). Run from anywhere:
#   bash tests/container/check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

image=kakao-webhooks:check
name=kakao-webhooks-check
volume=kakao-webhooks-check-data
project=kakao-webhooks-check
compose=(docker compose -p "$project" -f compose.yaml -f tests/container/compose.check.yaml)
token=check-api-token-of-at-least-32-characters
# compose.yaml refuses to start without it (closed by default).
export SKILL_SECRET=check-skill-secret

passed=0
step() { printf '\n== container check: %s\n' "$*"; }
ok() { echo "$*"; passed=$((passed + 1)); }
fail() { printf 'container check FAILED: %s\n' "$*" >&2; exit 1; }

cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker volume rm -f "$volume" >/dev/null 2>&1 || true
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

# Waits until container $1 reports `healthy` (at most $2 seconds).
wait_healthy() {
  local status=""
  for _ in $(seq "$2"); do
    status=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null || true)
    [ "$status" = healthy ] && return 0
    sleep 1
  done
  docker logs --tail 30 "$1" >&2 || true
  fail "$1 is '$status', not healthy, after $2 s"
}

# Unlink events for user $2 in /api/events at base URL $1.
unlinks_of() {
  curl -fsS -H "Authorization: Bearer $token" "$1/api/events?limit=1000" |
    python3 -c 'import json, sys
events = json.load(sys.stdin)["events"]
print(sum(1 for e in events if e["type"] == "unlink" and e["user_id"] == sys.argv[1]))' "$2"
}

step "docker build ."
started=$(date +%s)
docker build -q -t "$image" . >/dev/null
ok "built in $(( $(date +%s) - started )) s; $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.1f MB", $1 / 1e6}')"

step "closed by default: no secrets, no start"
refused=$(docker run --rm "$image" 2>&1 || true)
echo "$refused" | grep -q "invalid setting SKILL_SECRET" ||
  fail "the image started with no SKILL_SECRET: $refused"
ok "refused, naming SKILL_SECRET"

step "run, healthy, not root"
docker run -d --name "$name" -v "$volume:/data" -p 127.0.0.1::8080 -p 127.0.0.1::9090 \
  -e KAKAO_APP_ID=100000 -e KAKAO_ADMIN_KEY=check-admin-key -e INTERNAL_API_TOKEN="$token" \
  -e SKILL_SECRET="$SKILL_SECRET" "$image" >/dev/null
wait_healthy "$name" 60
uid=$(docker exec "$name" id -u)
[ "$uid" != 0 ] || fail "the container runs as root"
ok "healthy; runs as uid $uid"
port=$(docker port "$name" 9090/tcp | head -n 1 | sed 's/.*://')
base="http://127.0.0.1:$port"
public=$(docker port "$name" 8080/tcp | head -n 1 | sed 's/.*://')
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$public/api/events")" = 404 ] ||
  fail "/api answers on the public port"
ok "/api only on the internal port"

step "a webhook survives a restart (SQLite in the /data volume)"
docker exec "$name" kakao-webhooks simulate unlink --user 4242 >/dev/null ||
  fail "simulate unlink was not accepted"
docker restart "$name" >/dev/null
wait_healthy "$name" 60
port=$(docker port "$name" 9090/tcp | head -n 1 | sed 's/.*://')
base="http://127.0.0.1:$port"
[ "$(unlinks_of "$base" 4242)" = 1 ] || fail "the unlink stored before the restart is gone"
ok "the unlink is still there after the restart"
docker rm -f "$name" >/dev/null

step "docker compose up: migrate, two instances on PostgreSQL"
"${compose[@]}" up -d --build --quiet-pull >/dev/null 2>&1 || {
  "${compose[@]}" logs --tail 30 >&2; fail "docker compose up failed"; }
for service in webhooks-1 webhooks-2; do
  wait_healthy "$("${compose[@]}" ps -q "$service")" 90
done
migrate=$("${compose[@]}" ps -a -q migrate)
[ "$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$migrate")" = "exited 0" ] ||
  fail "the migrate service did not complete"
ok "migrate completed; both instances healthy"

step "one delivery, sent to each instance, stored once"
for service in webhooks-1 webhooks-2; do
  "${compose[@]}" exec -T "$service" kakao-webhooks simulate unlink --user 5151 >/dev/null ||
    fail "simulate unlink to $service was not accepted"
done
for port in 9091 9092; do
  count=$(unlinks_of "http://127.0.0.1:$port" 5151)
  [ "$count" = 1 ] || fail "instance on :$port sees $count unlinks of user 5151, not 1"
done
ok "stored once, seen by both"

step "docker compose down -v"
"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1
[ -z "$("${compose[@]}" ps -a -q)" ] || fail "containers left after down"
ok "cleaned up"
echo "container: $passed passed, 0 failed"
