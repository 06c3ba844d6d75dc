#!/usr/bin/env bash
# Unpacks pinned containerd packages from Debian's newer suites into .tools/containerd-<ver>/
# without touching the system's packages (Debian 12's containerd 1.6 cannot pull Spin
# artifacts). Idempotent: does nothing when the binaries are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

fetch() { # suite version
  local suite=$1 version=$2
  local dest=.tools/containerd-${version%%[~+]*}
  [[ -x $dest/usr/bin/containerd ]] && return 0
  local work=.tools/apt-$suite
  mkdir -p "$work/lists/partial" "$work/archives/partial" "$dest"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$work/sources.list"
  local apt_opts=(-o Dir::Etc::SourceList="$PWD/$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$PWD/$work/lists" -o Dir::Cache::Archives="$PWD/$work/archives"
    -o APT::Get::List-Cleanup=0)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work/archives" && apt-get "${apt_opts[@]}" download -qq "containerd=$version")
  dpkg -x "$work"/archives/containerd_*.deb "$dest"
  rm -rf "$work"
  echo "containerd $version -> $dest/usr/bin"
}

fetch trixie 1.7.24~ds1-6+deb13u1
fetch sid 2.1.9+ds1-5
