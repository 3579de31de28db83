#!/bin/sh
# Prints one JSON object about this host: its swarm node (ID, state, name) and
# whether its kernel can serve the swarm's ingress routing mesh, which needs
# IPVS (ip_vs), with the evidence for the answer.
set -u
swarm=$(docker info --format '"node_id":{{json .Swarm.NodeID}},"state":{{json .Swarm.LocalNodeState}},"name":{{json .Name}}') || exit 1
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
printf '{%s,"kernel":"%s","ipvs":%s,"reason":"%s"}\n' "$swarm" "$kernel" "$ipvs" "$reason"
