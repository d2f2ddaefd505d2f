#!/usr/bin/env bash
# Builds everything the kind tier needs with no container registry: binaries from the Go module
# proxy and gcc, Debian root filesystems from deb.debian.org (mmdebstrap), images in the tier's
# private Docker engine (engine.py), and finally a kind node image with `kind build node-image`.
# Versions are pinned in versions.env and ../controlplane/versions.env; nothing is written into
# the repository. Output (the cache key covers the versions and every input file of this folder):
#
#   ~/.cache/hybrid-runner/bin/kind-<key>/
#     kind containerd ctr containerd-shim-runc-v2 crictl helm coredns   wrapper module tools/
#     local-path-provisioner        wrapper module lpp/ (its old logrus import path conflicts)
#     argoexec                      ../controlplane/argo with one file restored (see build_argoexec)
#     pause                         gcc -static of Kubernetes' build/pause/linux/pause.c
#     argo-install-<k>.yaml         Argo's controller, RBAC and CRDs from the Argo module,
#                                   with the locally built images (argo/kustomization.yaml)
#     images-<k>.env                the image names the test session uses (<k>: the images' key)
#     build-times.txt               seconds per step of the build that produced them
#   the private engine's images: hybrid-runner-kind/{debian,python,node-base,node,...}, and under
#     the names kind and kubeadm ask for (registry.k8s.io/..., docker.io/kindest/...)
#
# The Kubernetes multi-call binary (kubelet, kubeadm, kubectl, kube-proxy and the control plane),
# etcd and workflow-controller come from ../controlplane/build.sh, run first: one compile for
# both tiers. Idempotent: a step whose output exists is skipped. Needs root (mmdebstrap, dockerd),
# Go, gcc, mmdebstrap, docker.io (dockerd, runc, the docker CLI), python3.
#
# Usage: bash e2e/kind/build.sh [python-base | --print-images-env | --print-python-image]
#   python-base           only the Python stand-in base image (what `just image` needs offline)
#   --print-images-env    print the path of images-<k>.env (non-zero if the build is incomplete)
#   --print-python-image  print the Python stand-in base image's name
# Environment: HYBRID_RUNNER_CACHE (default ~/.cache/hybrid-runner), GO, BUILD_PARALLELISM.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../controlplane/versions.env
source "$here/../controlplane/versions.env"
# shellcheck source=versions.env
source "$here/versions.env"

GO=${GO:-go}
cache=${HYBRID_RUNNER_CACHE:-$HOME/.cache/hybrid-runner}
go_version=$($GO env GOVERSION 2>/dev/null || echo nogo)
# Two keys: the binaries' (the versions and the Go wrapper modules) names the output folder;
# the images' (that plus this script and the image files) is in every image tag and in the
# name of the files describing them, so editing an image recipe rebuilds images, not binaries.
digest() { (cd "$here" && find "$@" -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-10); }
bin_inputs=$(digest versions.env tools lpp ../controlplane/versions.env ../controlplane/argo)
inputs=$(digest versions.env build.sh tools lpp images argo ../controlplane/versions.env)
key="kind-${KIND_VERSION}_k8s-${KUBERNETES_VERSION}_${go_version}_${bin_inputs}"
out="$cache/bin/$key"
images_env="$out/images-$inputs.env"

python_image="hybrid-runner-kind/python:3.11-$DEBIAN_SUITE-$inputs"
target=all
case "${1:-}" in
"") ;;
--print-images-env) echo "$images_env"; [ -f "$images_env" ]; exit $? ;;
--print-python-image) echo "$python_image"; exit 0 ;;
python-base) target=python-base ;;
*) echo "usage: $0 [python-base | --print-images-env | --print-python-image]" >&2; exit 2 ;;
esac

needed=(mmdebstrap dockerd docker python3)
[ "$target" = python-base ] || needed+=("$GO" gcc)
for tool in "${needed[@]}"; do
    command -v "$tool" >/dev/null || {
        echo "build.sh needs $tool (Debian: apt-get install golang gcc mmdebstrap docker.io)" >&2
        exit 1
    }
done

export GOMODCACHE="$cache/gomod" GOCACHE="$cache/gocache" GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-trimpath -buildvcs=false"
jobs=${BUILD_PARALLELISM:-2}
mkdir -p "$out"
times="$out/build-times.txt"
tmp=$(mktemp -d "$out/.tmp.XXXXXX")
started_engine=0
cleanup() {
    rm -rf "$tmp"
    if [ "$started_engine" = 1 ]; then (cd "$repo" && python3 -m e2e.kind.engine stop); fi
}
trap cleanup EXIT

# step NAME DONE-TEST COMMAND...: runs COMMAND unless DONE-TEST (a shell test) succeeds.
step() {
    local name=$1 done_test=$2
    shift 2
    if eval "$done_test"; then
        echo "== $name: cached"
        return 0
    fi
    echo "== $name: building"
    local start=$SECONDS
    "$@"
    echo "== $name: done in $((SECONDS - start)) s"
    echo "$name $((SECONDS - start))" >>"$times"
}
have() { [ -e "$out/$1" ]; }
image() { docker image inspect "$1" >/dev/null 2>&1; }

# -- binaries -----------------------------------------------------------------------------------

build_tools() {
    local x="-X github.com/containerd/containerd/v2/version.Version=v$CONTAINERD_VERSION"
    x+=" -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
    x+=" -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
    # One build for all: they share one module graph, so Kubernetes' client libraries compile once.
    (cd "$here/tools" && $GO build -p "$jobs" -tags "no_btrfs no_zfs no_devmapper urfave_cli_no_docs" \
        -ldflags "-s -w $x" -o "$tmp/tools/" \
        sigs.k8s.io/kind \
        github.com/containerd/containerd/v2/cmd/containerd \
        github.com/containerd/containerd/v2/cmd/ctr \
        github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
        sigs.k8s.io/cri-tools/cmd/crictl \
        helm.sh/helm/v3/cmd/helm \
        ./coredns)
    mv "$tmp"/tools/* "$out/"
}

build_lpp() {
    (cd "$here/lpp" && $GO build -p "$jobs" -ldflags "-s -w" -o "$tmp/local-path-provisioner" \
        github.com/rancher/local-path-provisioner)
    mv "$tmp/local-path-provisioner" "$out/"
}

build_argoexec() {
    # argoexec does not compile from the module zip: workflow/executor/osspecific/signal_linux.go
    # is a symlink (to signal_darwin.go) in Argo's repository, and module zips drop symlinks. A copy
    # of the module with that file restored, used through a replace in a temporary go.mod.
    local mod="github.com/argoproj/argo-workflows/v${ARGO_WORKFLOWS_VERSION%%.*}"
    local src osdir="workflow/executor/osspecific"
    src=$(cd "$here/../controlplane/argo" && $GO mod download -json "$mod@v$ARGO_WORKFLOWS_VERSION" |
        sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    cp -r "$src" "$tmp/argo-src"
    chmod -R u+w "$tmp/argo-src"
    [ -e "$tmp/argo-src/$osdir/signal_linux.go" ] ||
        cp "$tmp/argo-src/$osdir/signal_darwin.go" "$tmp/argo-src/$osdir/signal_linux.go"
    cp "$here/../controlplane/argo/go.mod" "$here/../controlplane/argo/go.sum" "$tmp/"
    echo "replace $mod => $tmp/argo-src" >>"$tmp/go.mod"
    (cd "$here/../controlplane/argo" && $GO build -p "$jobs" -modfile "$tmp/go.mod" \
        -ldflags "-s -w -X $mod.version=v$ARGO_WORKFLOWS_VERSION" -o "$tmp/argoexec" "$mod/cmd/argoexec")
    mv "$tmp/argoexec" "$out/"
}

build_pause() {
    local src
    src=$(cd "$here/../controlplane/kube" && $GO mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" |
        sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    gcc -static -Os -DVERSION="v$KUBERNETES_VERSION-hybrid-runner" -o "$tmp/pause" "$src/build/pause/linux/pause.c"
    strip "$tmp/pause"
    mv "$tmp/pause" "$out/"
}

# -- images -------------------------------------------------------------------------------------

# Debian root filesystems, slimmed as Debian's own slim images are (no docs, man pages, locales).
rootfs() { # rootfs TAG PACKAGES [mmdebstrap options...] | docker import
    local tag=$1 packages=$2
    shift 2
    mmdebstrap --variant=minbase --include="$packages" --aptopt='APT::Install-Recommends "false"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*' \
        "$@" "$DEBIAN_SUITE" - "$DEBIAN_MIRROR" >"$tmp/rootfs.tar"
    docker import "${changes[@]}" "$tmp/rootfs.tar" "$tag" >/dev/null
    rm -f "$tmp/rootfs.tar"
    changes=()
}

build_debian() {
    # The base of the component images: what kube-proxy needs besides a shell.
    changes=(--change 'CMD ["/bin/bash"]')
    rootfs "$debian_image" ca-certificates,iptables,conntrack,ipset,kmod
}

build_python() {
    # A stand-in for python:3.11-slim (no registry): Debian's python3 (3.11 in bookworm) with
    # `python` and `pip` on PATH and pip allowed to install system-wide, as in the official image.
    # The host's CA bundle replaces Debian's, so builds behind a TLS-intercepting proxy reach PyPI.
    changes=(--change 'ENV LANG=C.UTF-8' --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' --change 'CMD ["python3"]')
    rootfs "$python_image" python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
        --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
        --customize-hook='copy-in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/'
}

build_node_base() {
    # kind's base image (images/base in the kind module), from Debian packages instead of
    # upstream tarballs: kind's files, containerd/ctr/shim/crictl from this build, Debian's runc
    # and CNI plugins. Two settings for hosts like the CI machines, harmless elsewhere: kubelet may
    # run on cgroup v1 (--fail-cgroupv1=false) and containerd never lowers oom_score_adj below 0
    # (that needs CAP_SYS_RESOURCE, which the VM lacks).
    local kind_src stage="$tmp/node-files"
    kind_src=$(cd "$here/tools" && $GO mod download -json "sigs.k8s.io/kind@v$KIND_VERSION" |
        sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    mkdir -p "$stage/usr/local/bin" "$stage/opt/cni"
    cp -r "$kind_src/images/base/files/." "$stage/"
    cp "$out/containerd" "$out/ctr" "$out/containerd-shim-runc-v2" "$out/crictl" "$stage/usr/local/bin/"
    chmod -R u+w,go-w "$stage"
    sed -i 's/^\(KUBELET_EXTRA_ARGS=.*\)$/\1 --fail-cgroupv1=false/' "$stage/etc/default/kubelet"
    sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' \
        "$stage/etc/containerd/config.toml"
    changes=()
    rootfs "$node_rootfs_image" \
        systemd,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps,runc,containernetworking-plugins \
        --customize-hook="sync-in $stage /" \
        --customize-hook="copy-in $here/images/node-base-setup.sh /tmp" \
        --customize-hook='chroot "$1" sh /tmp/node-base-setup.sh'
    # What `docker import --change` cannot set (STOPSIGNAL), in one metadata-only build step.
    base=$node_rootfs_image docker_build "$node_base_image" node-base.Dockerfile "$here/images/node-base-setup.sh"
    docker rmi "$node_rootfs_image" >/dev/null
}

# docker_build TAG DOCKERFILE FILE... : the legacy builder, a context of just those files, the
# Debian image (or $base) as the BASE build argument.
docker_build() {
    local tag=$1 dockerfile=$2 ctx="$tmp/ctx"
    shift 2
    rm -rf "$ctx" && mkdir -p "$ctx" && cp "$@" "$ctx/"
    local log="$tmp/docker-build.log"
    DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=${base:-$debian_image}" -f "$here/images/$dockerfile" \
        -t "$tag" "$ctx" >"$log" 2>&1 || { cat "$log" >&2; return 1; }
}

build_components() {
    # What kubeadm, containerd and kind ask for, under the names they ask for.
    local wanted name tag
    wanted=$("$cp_dir/kube" kubeadm config images list --kubernetes-version "v$KUBERNETES_VERSION")
    echo "$wanted" | sed 's/^/   kubeadm wants /'
    docker_build "hybrid-runner-kind/kube:v$KUBERNETES_VERSION" kube.Dockerfile "$cp_dir/kube"
    docker_build "hybrid-runner-kind/etcd:v$ETCD_VERSION" etcd.Dockerfile "$cp_dir/etcd"
    docker_build "hybrid-runner-kind/pause:v$KUBERNETES_VERSION" pause.Dockerfile "$out/pause"
    docker_build "hybrid-runner-kind/coredns:v$COREDNS_VERSION" coredns.Dockerfile "$out/coredns"
    docker_build "hybrid-runner-kind/local-path-provisioner:v$LOCAL_PATH_PROVISIONER_VERSION" \
        local-path-provisioner.Dockerfile "$out/local-path-provisioner"
    docker_build "hybrid-runner-kind/kindnetd:stand-in" kindnetd.Dockerfile "$here/images/kindnetd.sh"
    extra_images=()
    for name in $wanted $sandbox_image $kind_images; do
        case "$name" in
        */kube-apiserver:* | */kube-controller-manager:* | */kube-scheduler:* | */kube-proxy:*)
            tag="hybrid-runner-kind/kube:v$KUBERNETES_VERSION" ;;
        */etcd:*) tag="hybrid-runner-kind/etcd:v$ETCD_VERSION" ;;
        */pause:*) tag="hybrid-runner-kind/pause:v$KUBERNETES_VERSION" ;;
        */coredns:*) tag="hybrid-runner-kind/coredns:v$COREDNS_VERSION" ;;
        */kindnetd:*) tag="hybrid-runner-kind/kindnetd:stand-in" ;;
        */local-path-provisioner:*) tag="hybrid-runner-kind/local-path-provisioner:v$LOCAL_PATH_PROVISIONER_VERSION" ;;
        */local-path-helper:*) tag="$debian_image" ;;
        *) echo "no local build for image $name (asked for by kubeadm, containerd or kind)" >&2; return 1 ;;
        esac
        docker tag "$tag" "$name"
        case "$name" in */kube-apiserver:* | */kube-controller-manager:* | */kube-scheduler:* | */kube-proxy:*) ;;
        *) extra_images+=("$name") ;; esac
    done
    printf '%s\n' "${extra_images[@]}" >"$out/extra-images-$inputs.txt"
}

build_release() {
    # The layout `kind build node-image --type file` reads (builder_tarball.go): kubernetes/version
    # and kubernetes/server/bin/{kubeadm,kubelet,kubectl,<4 component image archives>}. The archive
    # of kube-proxy also carries every other image (archive.py), so kind pulls nothing.
    local r="$tmp/release/kubernetes" bin c
    bin="$r/server/bin"
    mkdir -p "$bin"
    echo "v$KUBERNETES_VERSION" >"$r/version"
    for c in kubeadm kubelet kubectl; do cp "$cp_dir/kube" "$bin/$c"; done
    for c in kube-apiserver kube-controller-manager kube-scheduler; do
        docker save -o "$bin/$c.tar" "registry.k8s.io/$c:v$KUBERNETES_VERSION"
        echo "v$KUBERNETES_VERSION" >"$bin/$c.docker_tag"
    done
    echo "v$KUBERNETES_VERSION" >"$bin/kube-proxy.docker_tag"
    # shellcheck disable=SC2046
    (cd "$repo" && python3 -m e2e.kind.archive "$bin/kube-proxy.tar" \
        "registry.k8s.io/kube-proxy:v$KUBERNETES_VERSION" $(cat "$out/extra-images-$inputs.txt")) | sed 's/^/   /'
    tar -C "$tmp/release" -cf - kubernetes | gzip -1 >"$tmp/kubernetes-server-linux-amd64.tar.gz"
    rm -rf "$tmp/release"
    "$out/kind" build node-image --type file --base-image "$node_base_image" --image "$node_image" \
        "$tmp/kubernetes-server-linux-amd64.tar.gz"
    rm -f "$tmp/kubernetes-server-linux-amd64.tar.gz"
}

build_argo_images() {
    docker_build "$argo_controller_image" argo.Dockerfile "$cp_dir/workflow-controller"
    docker_build "$argoexec_image" argo.Dockerfile "$out/argoexec"
}

render_argo_install() {
    # Argo's own manifests (controller, its RBAC, CRDs) from the module, with the local images.
    local src mod="github.com/argoproj/argo-workflows/v${ARGO_WORKFLOWS_VERSION%%.*}"
    src=$(cd "$here/../controlplane/argo" && $GO mod download -json "$mod@v$ARGO_WORKFLOWS_VERSION" |
        sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    mkdir -p "$tmp/argo"
    cp -r "$src/manifests" "$tmp/argo/manifests"
    chmod -R u+w "$tmp/argo"
    sed -e "s|@CONTROLLER_IMAGE@|${argo_controller_image%:*}|" -e "s|@CONTROLLER_TAG@|${argo_controller_image##*:}|" \
        -e "s|@EXECUTOR_IMAGE@|$argoexec_image|" "$here/argo/kustomization.yaml" >"$tmp/argo/kustomization.yaml"
    "$cp_dir/kubectl" kustomize "$tmp/argo" >"$tmp/argo-install.yaml"
    mv "$tmp/argo-install.yaml" "$out/argo-install-$inputs.yaml"
}

# -- main ---------------------------------------------------------------------------------------

debian_image="hybrid-runner-kind/debian:$DEBIAN_SUITE-$inputs"
node_base_image="hybrid-runner-kind/node-base:$inputs"
node_rootfs_image="hybrid-runner-kind/node-rootfs:$inputs"
node_image="hybrid-runner-kind/node:v$KUBERNETES_VERSION-$inputs"
argo_controller_image="hybrid-runner-kind/workflow-controller:v$ARGO_WORKFLOWS_VERSION-$inputs"
argoexec_image="hybrid-runner-kind/argoexec:v$ARGO_WORKFLOWS_VERSION-$inputs"

start_engine() {
    eval "$(cd "$repo" && python3 -m e2e.kind.engine env)"
    if ! (cd "$repo" && python3 -m e2e.kind.engine status >/dev/null); then
        (cd "$repo" && python3 -m e2e.kind.engine start)
        started_engine=1
    fi
}

echo "== output: $out"
total_start=$SECONDS
if [ "$target" = python-base ]; then
    start_engine
    step "image $python_image" 'image "$python_image"' build_python
    exit 0
fi

# Kubernetes (the multi-call binary), etcd and workflow-controller: the control plane's build.
cp_dir=$(bash "$here/../controlplane/build.sh" --print-dir) || {
    bash "$here/../controlplane/build.sh"
    cp_dir=$(bash "$here/../controlplane/build.sh" --print-dir)
}
echo "== go: $go_version, -p $jobs; Kubernetes v$KUBERNETES_VERSION from $cp_dir"
step "kind, containerd, crictl, helm, coredns" 'have helm' build_tools
step "local-path-provisioner" 'have local-path-provisioner' build_lpp
step "argoexec" 'have argoexec' build_argoexec
step "pause" 'have pause' build_pause

# What kind's node image build asks for besides kubeadm's list: the containerd sandbox image
# (kind's containerd config) and kind's CNI and storage images (constants in kind's source).
kind_src=$(cd "$here/tools" && $GO mod download -json "sigs.k8s.io/kind@v$KIND_VERSION" |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
sandbox_image=$(sed -n 's/^ *sandbox_image = "\(.*\)"/\1/p' "$kind_src/images/base/files/etc/containerd/config.toml")
kind_images=$(sed -n 's/^const [a-zA-Z]*Image = "\(.*\)"$/\1/p' "$kind_src"/pkg/build/nodeimage/const_*.go)

start_engine
step "image $debian_image" 'image "$debian_image"' build_debian
step "image $python_image" 'image "$python_image"' build_python
step "image $node_base_image" 'image "$node_base_image"' build_node_base
step "component images" 'have extra-images-$inputs.txt && image "registry.k8s.io/kube-proxy:v$KUBERNETES_VERSION"' build_components
step "argo images" 'image "$argoexec_image" && image "$argo_controller_image"' build_argo_images
step "argo-install.yaml" 'have argo-install-$inputs.yaml' render_argo_install
step "node image $node_image" 'image "$node_image"' build_release

cat >"$images_env.tmp" <<EOF
# Written by e2e/kind/build.sh: the images of this build (in the private engine, engine.py).
NODE_IMAGE=$node_image
PYTHON_IMAGE=$python_image
DEBIAN_IMAGE=$debian_image
ARGO_CONTROLLER_IMAGE=$argo_controller_image
ARGOEXEC_IMAGE=$argoexec_image
ARGO_INSTALL=$out/argo-install-$inputs.yaml
KUBERNETES_VERSION=$KUBERNETES_VERSION
CONTROL_PLANE_DIR=$cp_dir
EOF
mv "$images_env.tmp" "$images_env"
# Images of earlier recipes (another key) only take disk: removed unless a container uses them.
docker images --format '{{.Repository}}:{{.Tag}}' | grep '^hybrid-runner-kind/' | grep -v -- "$inputs" |
    xargs -r docker rmi >/dev/null 2>&1 || true
docker image prune -f >/dev/null 2>&1 || true
echo "== all built in $((SECONDS - total_start)) s (this run); per step (first build):"
sed 's/^/   /' "$times" 2>/dev/null || true
docker system df 2>/dev/null | sed 's/^/   /' || true
