#!/bin/sh
# First deployment and updates of Kirby with docker-compose (run from the repository root).
#
#   deploy/deploy.sh first    .env checked, a certificate made if there is none, images built, the stack
#                             started; the first admin's password and API key are shown (once).
#   deploy/deploy.sh update   new images built, both databases migrated, static files refreshed, then
#                             web and ws replaced one instance at a time (new ones healthy before old
#                             ones stop: no request is refused), the other services recreated.
#
# WEB_SCALE / WS_SCALE: how many web and ws instances run (default: as many as run now, at least 1).
set -eu
cd "$(dirname "$0")/.."
compose="docker compose"

need_env() {
    [ -f .env ] || { echo "no .env: cp .env.example .env and fill it in (SECRET_KEY, POSTGRES_PASSWORD, ...)"; exit 1; }
    for name in SECRET_KEY POSTGRES_PASSWORD GRAFANA_ADMIN_PASSWORD KIRBY_ALERT_WEBHOOK_URL; do
        grep -q "^$name=." .env || { echo ".env: $name is empty"; exit 1; }
    done
}

running() {  # number of running containers of a service
    $compose ps -q "$1" 2>/dev/null | wc -l | tr -d ' '
}

wait_healthy() {  # container ids...
    for id in "$@"; do
        tries=0
        until [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ]; do
            tries=$((tries + 1))
            [ $tries -le 60 ] || { echo "container $id did not become healthy"; exit 1; }
            sleep 2
        done
    done
}

roll() {  # service, instances wanted: start new instances beside the old ones, then retire the old
    service=$1
    wanted=$2
    old=$($compose ps -q "$service")
    count=$(echo "$old" | grep -c . || true)
    $compose up -d --no-deps --no-recreate --scale "$service=$((count + wanted))" "$service"
    new=$($compose ps -q "$service" | grep -v -x -F "$old" || true)
    wait_healthy $new
    for id in $old; do
        docker stop "$id" >/dev/null && docker rm "$id" >/dev/null
    done
}

case "${1:-}" in
first)
    need_env
    [ -s deploy/certs/tls.crt ] || sh deploy/make-certs.sh deploy/certs
    $compose build
    $compose up -d
    $compose wait migrate >/dev/null 2>&1 || true
    echo "First admin (shown once; keep it):"
    $compose logs --no-log-prefix migrate | grep -E "^(Admin user|Password|Admin API key|API KEY)" || true
    ;;
update)
    need_env
    web=${WEB_SCALE:-$(running web)}
    ws=${WS_SCALE:-$(running ws)}
    [ "$web" -ge 1 ] || web=1
    [ "$ws" -ge 1 ] || ws=1
    $compose build
    # Schema first (migrations are written to work with the code before them), then static files.
    $compose run --rm migrate
    $compose run --rm static
    roll web "$web"
    roll ws "$ws"
    # Workers finish their current task (stop_grace_period) and come back on the new image.
    $compose up -d --no-deps worker jobs collectors beat
    $compose up -d --no-deps nginx prometheus alertmanager grafana node-exporter
    echo "updated: $web web and $ws ws instances on the new image"
    ;;
*)
    sed -n '2,12p' "$0"
    exit 2
    ;;
esac
