#!/bin/sh
# Prints the swarm service named $1 and its tasks (current and recent history)
# as one JSON object: {"service": <docker service inspect>, "tasks": [<docker inspect task>...]}.
set -eu
service=$(docker service inspect --format '{{json .}}' "$1")
ids=$(docker service ps --quiet --no-trunc "$1")
tasks=""
if [ -n "$ids" ]; then
    # shellcheck disable=SC2086 # one argument per task ID
    tasks=$(docker inspect --type task --format '{{json .}}' $ids | paste -sd, -)
fi
printf '{"service":%s,"tasks":[%s]}\n' "$service" "$tasks"
