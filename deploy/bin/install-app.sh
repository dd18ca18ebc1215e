#!/bin/bash
# Installs one app from its unpacked artifact (dist/packages/<app>.tar.gz, made by
# `nx build packaging`), which holds:
#   <app>/app/            the webpack build: main.js, package.json, package-lock.json
#   <app>/<app>.service   its systemd unit
#   <app>/install.sh      this script
# It installs Node 24 LTS (pinned, checksum-verified) when it is missing, the app under
# /opt/ics/<app> with its production dependencies (npm ci --omit=dev --ignore-scripts: no
# install script runs as root except those in ALLOW_SCRIPTS, rebuilt one by one), the
# app's own service user (the unit's User=), the unit, and the CloudWatch agent. It does not start the unit: the user data writes the configuration
# first. Used when baking the worker AMI, by the worker's user data on a stock AMI,
# and by the control host's user data; safe to run again to upgrade.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
app="$(basename "$here")"
NODE_VERSION="${NODE_VERSION:-24.22.3}"
PREFIX="${ICS_PREFIX:-/opt/ics}"
# The only install scripts that run (checked against every artifact's lockfile by
# tools/packaging's tests): @tensorflow/tfjs-node downloads libtensorflow and binds its addon;
# without it the worker uses the wasm backend. Not run: @scarf/scarf (telemetry) and
# core-js (a banner).
ALLOW_SCRIPTS=(@tensorflow/tfjs-node)

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
user="$(sed -n 's/^User=//p' "$here/$app.service")"
[ -n "$user" ] || { echo "install-app: $app.service has no User=" >&2; exit 1; }
id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /sbin/nologin "$user"
mkdir -p /var/log/ics
if command -v dnf >/dev/null 2>&1 && [ ! -x /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl ]; then
  # Ships the logs; an install without it still runs (the logs stay on the host).
  dnf install -y -q amazon-cloudwatch-agent || echo "install-app: amazon-cloudwatch-agent not installed; logs stay in /var/log/ics" >&2
fi

# Install next to the running copy, then swap, so a failed npm ci leaves it untouched.
mkdir -p "$PREFIX"
rm -rf "$PREFIX/$app.new"
cp -r "$here/app" "$PREFIX/$app.new"
(
  cd "$PREFIX/$app.new"
  HOME=/root /usr/local/bin/npm ci --omit=dev --ignore-scripts --no-audit --no-fund
  for pkg in "${ALLOW_SCRIPTS[@]}"; do
    [ -d "node_modules/$pkg" ] || continue
    if ! HOME=/root /usr/local/bin/npm rebuild "$pkg" --foreground-scripts; then
      # Every allowed script today belongs to an optional package: go on without it.
      echo "install-app: $pkg's install script failed; removing the optional package" >&2
      rm -rf "node_modules/$pkg"
    fi
  done
)
rm -rf "$PREFIX/$app.old"
[ -d "$PREFIX/$app" ] && mv "$PREFIX/$app" "$PREFIX/$app.old"
mv "$PREFIX/$app.new" "$PREFIX/$app"
rm -rf "$PREFIX/$app.old"
chown -R root:root "$PREFIX/$app" && chmod -R a+rX "$PREFIX/$app"

install -m 0644 "$here/$app.service" "/etc/systemd/system/$app.service"
mkdir -p /etc/ics
systemctl daemon-reload
echo "install-app: $app installed in $PREFIX/$app (node $(/usr/local/bin/node --version))"
