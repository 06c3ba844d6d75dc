#!/usr/bin/env bash
# Installs what building and testing need, idempotently: Debian packages and Rust wasm targets.
# Safe to run again: it installs only what is missing.
set -euo pipefail

APT_PACKAGES=(protobuf-compiler libseccomp-dev pkg-config curl runc debian-archive-keyring
  docker-registry redis-server mosquitto postgresql mariadb-server wrk busybox-static
  containernetworking-plugins python3-venv prometheus)
WASM_TARGETS=(wasm32-wasip1 wasm32-wasip2 wasm32-unknown-unknown)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

installed_targets=$(rustup target list --installed)
for target in "${WASM_TARGETS[@]}"; do
  grep -qx "$target" <<<"$installed_targets" || rustup target add "$target"
done
"$(dirname "$0")/fetch-containerd.sh"
# The SQS trigger's tests need an SQS-compatible server on loopback: moto's, from PyPI (Debian
# has no package of it), in a virtualenv inside the clone so nothing outside it changes.
MOTO_VERSION=5.2.5
moto_dir="$(dirname "$0")/../.tools/moto"
if [[ ! -x $moto_dir/bin/moto_server ]] || ! grep -qx "$MOTO_VERSION" "$moto_dir/.version" 2>/dev/null; then
  echo "setup: installing moto $MOTO_VERSION (SQS server for tests) in .tools/moto"
  rm -rf "$moto_dir"
  python3 -m venv "$moto_dir"
  "$moto_dir/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  echo "$MOTO_VERSION" >"$moto_dir/.version"
fi
# A clean `make test` takes about 5 GB of disk (target/ and the test apps' target/); say so
# up front rather than fail in the middle of a link.
echo "setup: ok ($(df -h --output=avail . | tail -1 | tr -d ' ') free here; make test needs about 5G)"
