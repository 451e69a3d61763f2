#!/bin/bash
# Batch pool start task: installs what render and stitch tasks run on every node.
#   Blender: the official Linux tarball of BLENDER_VERSION from the Blender
#            release archive, checked against its published SHA-256, unpacked
#            into the node's shared directory, linked as /usr/local/bin/blender.
#   FFmpeg and python3: from Ubuntu's archive (24.04 by default, 22.04 still works;
#            both images ship python3, which the node scripts need).
# Runs as the pool-scope admin auto-user (apt needs root); re-runs on reboot and
# reimage, so every step is idempotent. Render, inspect and stitch tasks run as
# non-admin task-scope users, so everything installed is left a+rX. Inputs (start task environment settings):
#   BLENDER_VERSION   e.g. 5.0.1 (required)
#   BLENDER_SHA256    optional pinned checksum of the tarball; when empty the
#                     archive's own blender-<version>.sha256 file is used
#   BLENDER_BASE_URL  release archive root (default https://download.blender.org/release)
#   BLENDER_LINK_DIR  where the `blender` command is linked (default /usr/local/bin)
set -euo pipefail

: "${BLENDER_VERSION:?BLENDER_VERSION is required}"
BLENDER_BASE_URL="${BLENDER_BASE_URL:-https://download.blender.org/release}"
BLENDER_SHA256="${BLENDER_SHA256:-}"
SHARED="${AZ_BATCH_NODE_SHARED_DIR:-/mnt/batch/tasks/shared}"
LINK_DIR="${BLENDER_LINK_DIR:-/usr/local/bin}"

case "$BLENDER_VERSION" in
  *[!0-9.]* | "" ) echo "invalid BLENDER_VERSION: $BLENDER_VERSION" >&2; exit 2 ;;
esac
series="${BLENDER_VERSION%.*}"          # 5.0.1 -> 5.0
name="blender-${BLENDER_VERSION}-linux-x64"
install_dir="${SHARED}/blender/${name}"

# A fresh Ubuntu node runs unattended-upgrades at boot: wait for the dpkg lock
# instead of failing the start task.
apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q "$@"
}
apt_get update
# Blender's Linux build links X11/GL/EGL libraries even when run with -b.
apt_get install --no-install-recommends \
  ca-certificates curl xz-utils ffmpeg python3 \
  libx11-6 libxi6 libxxf86vm1 libxfixes3 libxrender1 libxkbcommon0 \
  libsm6 libice6 libgl1 libegl1

if [ ! -x "${install_dir}/blender" ]; then
  work="$(mktemp -d "${SHARED}/blender-download.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  url="${BLENDER_BASE_URL}/Blender${series}/${name}.tar.xz"
  curl -fsSL --retry 5 --retry-delay 10 -o "${work}/${name}.tar.xz" "$url"
  if [ -n "$BLENDER_SHA256" ]; then
    echo "${BLENDER_SHA256}  ${name}.tar.xz" > "${work}/expected.sha256"
  else
    curl -fsSL --retry 5 --retry-delay 10 -o "${work}/expected.sha256" \
      "${BLENDER_BASE_URL}/Blender${series}/blender-${BLENDER_VERSION}.sha256"
  fi
  (cd "$work" && grep " ${name}.tar.xz\$" expected.sha256 | sha256sum -c -)
  mkdir -p "${SHARED}/blender"
  tar -xJf "${work}/${name}.tar.xz" -C "$work"
  # Move into place only once complete, so a half-unpacked tree is never used.
  rm -rf "$install_dir"
  mv "${work}/${name}" "$install_dir"
fi

ln -sfn "$install_dir" "${SHARED}/blender/current"
ln -sfn "${SHARED}/blender/current/blender" "${LINK_DIR}/blender"
chmod -R a+rX "${SHARED}/blender"

"${LINK_DIR}/blender" --version | sed -n 1p  # sed reads all: no SIGPIPE under pipefail
ffmpeg -hide_banner -version | sed -n 1p
python3 --version
