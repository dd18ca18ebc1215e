#!/bin/bash
# Installs one app from its unpacked artifact (dist/packages/<app>.tar.gz, made by
# `nx build packaging`), which holds:
#   <app>/app/            the webpack build: main.js, package.json, package-lock.json
#   <app>/<app>.service   its systemd unit
#   <app>/install.sh      this script
# It installs Node (pinned, checksum-verified) when it is missing, the app under
# /opt/ics/<app> with its production dependencies (npm ci --omit=dev: on a host with
# internet this includes the optional @tensorflow/tfjs-node), the `ics` service user
# and the unit. It does not start the unit: the user data writes the configuration
# first. Used when baking the worker AMI, by the worker's user data on a stock AMI,
# and by the control host's user data; safe to run again to upgrade.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
app="$(basename "$here")"
NODE_VERSION="${NODE_VERSION:-20.20.2}"
PREFIX="${ICS_PREFIX:-/opt/ics}"

[ -f "$here/app/main.js" ] || { echo "install-app: $here/app/main.js is missing" >&2; exit 1; }
[ -f "$here/$app.service" ] || { echo "install-app: $here/$app.service is missing" >&2; exit 1; }

install_node() {
  if [ -x /usr/local/bin/node ] && [ "$(/usr/local/bin/node --version)" = "v$NODE_VERSION" ]; then
    return
  fi
  local arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) echo "install-app: unsupported architecture $(uname -m)" >&2; exit 1 ;;
  esac
  local name="node-v$NODE_VERSION-linux-$arch"
  local tmp
  tmp="$(mktemp -d)"
  curl -fsSL "https://nodejs.org/dist/v$NODE_VERSION/$name.tar.xz" -o "$tmp/$name.tar.xz"
  curl -fsSL "https://nodejs.org/dist/v$NODE_VERSION/SHASUMS256.txt" -o "$tmp/SHASUMS256.txt"
  (cd "$tmp" && grep " $name.tar.xz\$" SHASUMS256.txt | sha256sum -c -)
  rm -rf /opt/node && mkdir -p /opt/node
  tar -xJf "$tmp/$name.tar.xz" -C /opt/node --strip-components=1
  ln -sf /opt/node/bin/node /usr/local/bin/node
  ln -sf /opt/node/bin/npm /usr/local/bin/npm
  rm -rf "$tmp"
}

install_node
id ics >/dev/null 2>&1 || useradd --system --home-dir "$PREFIX" --shell /sbin/nologin ics

# Install next to the running copy, then swap, so a failed npm ci leaves it untouched.
mkdir -p "$PREFIX"
rm -rf "$PREFIX/$app.new"
cp -r "$here/app" "$PREFIX/$app.new"
(cd "$PREFIX/$app.new" && HOME=/root /usr/local/bin/npm ci --omit=dev --no-audit --no-fund)
rm -rf "$PREFIX/$app.old"
[ -d "$PREFIX/$app" ] && mv "$PREFIX/$app" "$PREFIX/$app.old"
mv "$PREFIX/$app.new" "$PREFIX/$app"
rm -rf "$PREFIX/$app.old"
chown -R root:root "$PREFIX/$app" && chmod -R a+rX "$PREFIX/$app"

install -m 0644 "$here/$app.service" "/etc/systemd/system/$app.service"
mkdir -p /etc/ics
systemctl daemon-reload
echo "install-app: $app installed in $PREFIX/$app (node $(/usr/local/bin/node --version))"
