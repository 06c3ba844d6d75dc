#!/usr/bin/env bash
# The main job, end to end: pack the hello app as a Spin OCI artifact, import it into a private
# containerd, run it with `ctr run --runtime io.containerd.spin.v2`, curl it, stop it.
# DEMO_APP names another app folder (one with a spin.toml), DEMO_PATH the path to curl.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${DEMO_CONTAINERD:-2.1.9}
bin=$PWD/.tools/containerd-$version/usr/bin
port=${DEMO_PORT:-3000}
app=${DEMO_APP:-tests/apps/manifests/hello}
path=${DEMO_PATH:-/}
work=$(mktemp -d /tmp/spin-demo.XXXXXX)
sock=$work/containerd.sock
ctr() { "$bin/ctr" --address "$sock" "$@"; }

cleanup() {
  ctr task kill --signal SIGKILL demo >/dev/null 2>&1 || true
  sleep 0.5
  ctr task delete --force demo >/dev/null 2>&1 || true
  ctr container delete demo >/dev/null 2>&1 || true
  [[ -n ${ctd_pid:-} ]] && kill "$ctd_pid" 2>/dev/null && wait "$ctd_pid" 2>/dev/null || true
  grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== pack $app as localhost/hello:demo"
./target/debug/spinrt pack --from "$app" --tag localhost/hello:demo --output "$work/hello.tar"

echo "== start a private containerd $version in $work"
mkdir -p "$work/bin"
ln -s "$PWD/target/debug/containerd-shim-spin-v2" "$work/bin/"
config_version=3; [[ $version == 1.* ]] && config_version=2
cat >"$work/config.toml" <<TOML
version = $config_version
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"]
[grpc]
  address = "$sock"
TOML
PATH="$work/bin:$bin:$PATH" "$bin/containerd" --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
ctd_pid=$!
for _ in $(seq 1 100); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done

echo "== ctr images import"
ctr images import --all-platforms "$work/hello.tar"
echo "== ctr run --runtime io.containerd.spin.v2 localhost/hello:demo demo /"
ctr run -d --runtime io.containerd.spin.v2 --net-host \
  --env "SPIN_HTTP_LISTEN_ADDR=127.0.0.1:$port" localhost/hello:demo demo /
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/.well-known/spin/health" >/dev/null && break
  sleep 0.2
done
ctr task ls
echo "== curl http://127.0.0.1:$port$path"
curl -sS "http://127.0.0.1:$port$path"
echo "== ctr task kill demo (SIGTERM: graceful)"
ctr task kill demo
for _ in $(seq 1 100); do ctr task ls | grep -q "demo.*STOPPED" && break; sleep 0.1; done
ctr task ls
grep -E "serving app|compiled in|precompiled|shutting down" "$work/containerd.log" | sed -e 's/^time="[^"]*" //' || true
