#!/bin/bash
# User data of the control host (web-tier, launch-controller, monitor-controller).
# The CDK stack (infra/) fills every @@…@@ placeholder at synth time.
#
# 1. writes the configuration: /etc/ics/ics.env (shared) and /etc/ics/<app>.env,
# 2. installs /usr/local/bin/ics-install, which downloads the three artifacts from the
#    artifact bucket, installs them (deploy/bin/install-app.sh inside each tarball)
#    and restarts the services; run it again after each `nx run-many -t deploy`,
# 3. runs it, waiting for the artifacts: the stack is created before they are uploaded.
set -euo pipefail
exec > >(tee -a /var/log/ics-user-data.log | logger -t ics-user-data) 2>&1

mkdir -p /etc/ics
cat > /etc/ics/ics.env <<'ENV'
AWS_REGION=@@AWS_REGION@@
STACK_NAME=@@STACK_NAME@@
INPUT_BUCKET=@@INPUT_BUCKET@@
OUTPUT_BUCKET=@@OUTPUT_BUCKET@@
LAUNCH_QUEUE_URL=@@LAUNCH_QUEUE_URL@@
MONITOR_QUEUE_URL=@@MONITOR_QUEUE_URL@@
OUTPUT_QUEUE_URL=@@OUTPUT_QUEUE_URL@@
LAUNCH_DEAD_LETTER_QUEUE_URL=@@LAUNCH_DEAD_LETTER_QUEUE_URL@@
MAX_WORKERS=@@MAX_WORKERS@@
IDLE_SECONDS=@@IDLE_SECONDS@@
IMAGE_DEADLINE_SECONDS=@@IMAGE_DEADLINE_SECONDS@@
FLEET_PROVIDER=ec2
EC2_LAUNCH_TEMPLATE_ID=@@EC2_LAUNCH_TEMPLATE_ID@@
LOG_LEVEL=@@LOG_LEVEL@@
ENV
cat > /etc/ics/web-tier.env <<'ENV'
PORT=80
ENV
# Both controllers use the EC2 fleet (EC2_LAUNCH_TEMPLATE_ID above): workers come from the
# launch template (AMI, type, role, subnet, security group, user data, at its latest
# version); the launch controller adds only the ics:stack / ics:role tags.
cat > /etc/ics/launch-controller.env <<'ENV'
PORT=3001
ENV
cat > /etc/ics/monitor-controller.env <<'ENV'
PORT=3002
ENV
chmod 0644 /etc/ics/*.env

cat > /usr/local/bin/ics-install <<'SCRIPT'
#!/bin/bash
# Installs (or upgrades) the control host's apps from the artifact bucket and restarts them.
# ics-install [--wait MINUTES]: wait that long for the artifacts to be uploaded.
set -euo pipefail
region='@@AWS_REGION@@'
bucket='@@ARTIFACT_BUCKET@@'
wait_minutes=0
[ "${1:-}" = "--wait" ] && wait_minutes="${2:-60}"
apps=(web-tier launch-controller monitor-controller)
deadline=$(( $(date +%s) + wait_minutes * 60 ))
for app in "${apps[@]}"; do
  until aws s3api head-object --region "$region" --bucket "$bucket" --key "artifacts/$app.tar.gz" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "ics-install: s3://$bucket/artifacts/$app.tar.gz is not there; upload it (nx run-many -t deploy) and run ics-install again" >&2
      exit 1
    fi
    sleep 20
  done
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for app in "${apps[@]}"; do
  aws s3 cp --region "$region" --only-show-errors "s3://$bucket/artifacts/$app.tar.gz" "$tmp/$app.tar.gz"
  tar -xzf "$tmp/$app.tar.gz" -C "$tmp"
  bash "$tmp/$app/install.sh"
done
for app in "${apps[@]}"; do
  systemctl enable "$app.service"
  systemctl restart "$app.service"
done
echo "ics-install: ${apps[*]} running"
SCRIPT
chmod 0755 /usr/local/bin/ics-install

/usr/local/bin/ics-install --wait 60
