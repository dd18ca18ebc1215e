#!/bin/bash
# User data of a one-off builder instance that becomes the worker AMI (docs/operations.md,
# "Bake the worker AMI"). Fill @@AWS_REGION@@ and @@ARTIFACT_BUCKET@@ (sed), launch
# Amazon Linux 2023 from the worker launch template with this as user data and
# --instance-initiated-shutdown-behavior stop; it installs the worker and the model,
# then powers off, and `aws ec2 create-image` makes the AMI from the stopped instance.
# It does not write any configuration or start the worker: each worker's own user data
# (deploy/user-data/worker.sh) does that at boot.
set -euo pipefail
exec > >(tee -a /var/log/ics-bake.log | logger -t ics-bake) 2>&1

region='@@AWS_REGION@@'
artifact_bucket='@@ARTIFACT_BUCKET@@'

tmp="$(mktemp -d)"
aws s3 cp --region "$region" "s3://$artifact_bucket/artifacts/classifier-worker.tar.gz" "$tmp/classifier-worker.tar.gz"
tar -xzf "$tmp/classifier-worker.tar.gz" -C "$tmp"
bash "$tmp/classifier-worker/install.sh"
rm -rf "$tmp"

mkdir -p /opt/ics/model
aws s3 sync --region "$region" --only-show-errors "s3://$artifact_bucket/models/current/" /opt/ics/model/
chmod -R a+rX /opt/ics/model
# No uploaded model: the worker runs the model its artifact ships.
[ -f /opt/ics/model/model.json ] || { echo "bake: no model under s3://$artifact_bucket/models/current/: the artifact's own model is used"; rmdir /opt/ics/model; }

# Check the install before it becomes an image: every production dependency loads.
(cd /opt/ics/classifier-worker && /usr/local/bin/node -e "
  const pkg = require('./package.json');
  for (const d of Object.keys(pkg.dependencies || {})) require.resolve(d);
  let tfn = 'absent (wasm backend)';
  try { require('@tensorflow/tfjs-node'); tfn = 'loads'; } catch {}
  console.log('bake: dependencies resolve; @tensorflow/tfjs-node ' + tfn);
")

# The next boot is a new instance: let cloud-init run that instance's user data.
cloud-init clean --logs || true
echo "bake: done, powering off"
shutdown -h now
