#!/bin/sh
# kindnetd stand-in: one CNI config for the pod subnet kind passes in POD_SUBNET (single node:
# no routes to other nodes are needed). Written atomically, since the kubelet watches the folder.
set -eu
subnet=${POD_SUBNET:-10.244.0.0/16}
conf=/etc/cni/net.d/10-kindnet.conflist
cat >"$conf.tmp" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "kindnet",
  "plugins": [
    {"type": "ptp", "ipMasq": true, "mtu": 1500,
     "ipam": {"type": "host-local", "dataDir": "/run/cni-ipam-state",
              "routes": [{"dst": "0.0.0.0/0"}], "ranges": [[{"subnet": "$subnet"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
mv "$conf.tmp" "$conf"
echo "kindnetd stand-in: wrote $conf for $subnet (node ${HOST_IP:-?})"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
