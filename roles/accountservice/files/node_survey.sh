#!/bin/sh
# Prints one JSON object about this host: its swarm node (ID, state, name) and
# whether its kernel can serve the swarm's ingress routing mesh, which needs
# IPVS (ip_vs), with the evidence for the answer.
# With "--manager NAME" (on the manager that runs the role) it adds the swarm's
# nodes ("swarm_nodes": ID, hostname, availability, state) and a container
# named NAME ("container": {"labels": ...}, or null when there is none).
set -u
swarm=$(docker info --format '"node_id":{{json .Swarm.NodeID}},"state":{{json .Swarm.LocalNodeState}},"name":{{json .Name}}') || exit 1
manager=""
if [ "${1:-}" = --manager ]; then
    nodes=""
    # Fails on a host that is no swarm manager: the role reports its state then
    if ids=$(docker node ls --quiet 2>/dev/null); then
        # shellcheck disable=SC2086 # one argument per node ID
        nodes=$(docker node inspect --format '{"ID":{{json .ID}},"hostname":{{json .Description.Hostname}},"availability":{{json .Spec.Availability}},"state":{{json .Status.State}}}' $ids) || exit 1
    fi
    err=$(mktemp) || exit 1
    if labels=$(docker container inspect --format '{{json .Config.Labels}}' "$2" 2>"$err"); then
        container=$(printf '{"labels":%s}' "$labels")
    elif grep -q 'No such' "$err"; then
        container=null
    else
        cat "$err" >&2
        rm -f "$err"
        exit 1
    fi
    rm -f "$err"
    manager=$(printf ',"swarm_nodes":[%s],"container":%s' "$(printf '%s\n' "$nodes" | paste -sd, -)" "$container")
fi
kernel=$(uname -r)
module=$(find "/lib/modules/$kernel" -name 'ip_vs.ko*' 2>/dev/null | head -n 1)
src=""
config=""
if [ -r /proc/config.gz ]; then
    src=/proc/config.gz
    config=$(zcat /proc/config.gz 2>/dev/null | grep -E '^(# )?CONFIG_IP_VS[= ]' | head -n 1)
elif [ -r "/boot/config-$kernel" ]; then
    src="/boot/config-$kernel"
    config=$(grep -E '^(# )?CONFIG_IP_VS[= ]' "$src" | head -n 1)
fi
if [ -e /proc/net/ip_vs ]; then
    ipvs=true
    reason="/proc/net/ip_vs exists (ip_vs is loaded)"
else
    case "$config" in
        CONFIG_IP_VS=y)
            ipvs=true
            reason="$src: CONFIG_IP_VS=y" ;;
        CONFIG_IP_VS=m)
            if [ -n "$module" ]; then
                ipvs=true
                reason="$src: CONFIG_IP_VS=m, module $module"
            else
                ipvs=false
                reason="$src: CONFIG_IP_VS=m but no ip_vs module in /lib/modules/$kernel"
            fi ;;
        "# CONFIG_IP_VS is not set")
            ipvs=false
            reason="$src: CONFIG_IP_VS is not set" ;;
        *)
            if [ -n "$module" ]; then
                ipvs=true
                reason="module $module (kernel config not readable)"
            else
                ipvs=false
                reason="no /proc/net/ip_vs, no readable kernel config, no ip_vs module in /lib/modules/$kernel"
            fi ;;
    esac
fi
printf '{%s,"kernel":"%s","ipvs":%s,"reason":"%s"%s}\n' "$swarm" "$kernel" "$ipvs" "$reason" "$manager"
