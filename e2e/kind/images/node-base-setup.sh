#!/bin/sh
# Run inside the node base root filesystem (mmdebstrap customize hook): the steps of kind's
# images/base/Dockerfile after its package install, for Debian's packages.
set -eu
chmod 0755 /usr/local/bin/* /kind/bin/*
# Debian installs the CNI plugins under /usr/lib/cni; kind and containerd look in /opt/cni/bin.
rmdir /opt/cni/bin 2>/dev/null || true
ln -sfn /usr/lib/cni /opt/cni/bin
find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/basic.target.wants/* \
    /lib/systemd/system/sockets.target.wants/*udev* /lib/systemd/system/sockets.target.wants/*initctl*
echo "ReadKMsg=no" >>/etc/systemd/journald.conf
ln -sfn /usr/lib/systemd/systemd /sbin/init
systemctl enable kubelet.service containerd.service undo-mount-hacks.service
systemctl mask systemd-binfmt.service
mkdir -p /etc/kubernetes/manifests
# containerd's base OCI spec plus kind's hook that mounts the product_uuid/product_name files.
ctr oci spec |
    jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' |
    jq 'del(.process.rlimits)' >/etc/containerd/cri-base.json
containerd --version
rm -f /tmp/node-base-setup.sh
