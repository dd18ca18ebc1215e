#!/bin/bash
# User data of the control host (web-tier, launch-controller, monitor-controller). The CDK
# stack (infra/) fills every @@…@@ placeholder at synth time. The host keeps nothing of its
# own: a new host (a new AMI, a changed bootstrap) comes up the same.
#
# 1. writes where each app finds its configuration: /etc/ics/<app>.env holds only the region,
#    the SSM Parameter Store paths (CONFIG_SSM_PATH, read by the app at every start) and the
#    app's AWS profile. No values, no secrets: change a value in SSM (or the API keys in
#    Secrets Manager) and `systemctl restart <app>`.
# 2. installs ics-credentials (+ timer): as root, assumes each app's own role and leaves its
#    temporary credentials in /run/ics/credentials/<app>.json, readable by that app's user
#    alone; the apps cannot reach the instance metadata service (IPAddressDeny in the units).
# 3. installs /usr/local/bin/ics-install, which downloads the three artifacts from the
#    artifact bucket, installs them (deploy/bin/install-app.sh inside each tarball) and
#    restarts the services; run it again after each `nx run-many -t deploy`,
# 4. ships the apps' logs to CloudWatch Logs (the CloudWatch agent),
# 5. runs ics-install, waiting for the artifacts: the stack is created before they are uploaded.
set -euo pipefail
exec > >(tee -a /var/log/ics-user-data.log | logger -t ics-user-data) 2>&1

mkdir -p /etc/ics /var/log/ics
cat > /etc/ics/web-tier.env <<'ENV'
AWS_REGION=@@AWS_REGION@@
CONFIG_SSM_PATH=@@WEB_TIER_CONFIG_SSM_PATH@@
AWS_PROFILE=web-tier
AWS_CONFIG_FILE=/etc/ics/aws-config
ENV
cat > /etc/ics/launch-controller.env <<'ENV'
AWS_REGION=@@AWS_REGION@@
CONFIG_SSM_PATH=@@LAUNCH_CONTROLLER_CONFIG_SSM_PATH@@
AWS_PROFILE=launch-controller
AWS_CONFIG_FILE=/etc/ics/aws-config
ENV
cat > /etc/ics/monitor-controller.env <<'ENV'
AWS_REGION=@@AWS_REGION@@
CONFIG_SSM_PATH=@@MONITOR_CONTROLLER_CONFIG_SSM_PATH@@
AWS_PROFILE=monitor-controller
AWS_CONFIG_FILE=/etc/ics/aws-config
ENV
# The AWS SDK's default chain reads AWS_PROFILE from this file: credential_process, re-run
# by the SDK shortly before the credentials it returned expire.
cat > /etc/ics/aws-config <<'INI'
[profile web-tier]
credential_process = /bin/cat /run/ics/credentials/web-tier.json
[profile launch-controller]
credential_process = /bin/cat /run/ics/credentials/launch-controller.json
[profile monitor-controller]
credential_process = /bin/cat /run/ics/credentials/monitor-controller.json
INI
chmod 0644 /etc/ics/*.env /etc/ics/aws-config

cat > /usr/local/bin/ics-credentials <<'SCRIPT'
#!/bin/bash
# Assumes each control app's role with the instance role and writes its credentials
# (credential_process JSON, 1 hour) where only that app's user can read them.
set -uo pipefail
region='@@AWS_REGION@@'
dir=/run/ics/credentials
mkdir -p "$dir" && chmod 0711 /run/ics "$dir"
status=0
while read -r app arn; do
  user="ics-$app"
  id "$user" >/dev/null 2>&1 || continue # not installed yet
  if creds=$(AWS_STS_REGIONAL_ENDPOINTS=regional aws sts assume-role --region "$region" --role-arn "$arn" \
      --role-session-name "@@STACK_NAME@@-$app" --duration-seconds 3600 --output json \
      --query '{Version: `1`, AccessKeyId: Credentials.AccessKeyId, SecretAccessKey: Credentials.SecretAccessKey, SessionToken: Credentials.SessionToken, Expiration: Credentials.Expiration}'); then
    tmp="$(mktemp "$dir/.$app.XXXXXX")"
    printf '%s\n' "$creds" > "$tmp" && chown "$user:" "$tmp" && chmod 0400 "$tmp" && mv -f "$tmp" "$dir/$app.json"
  else
    echo "ics-credentials: cannot assume $arn for $app" >&2
    status=1
  fi
done <<'ROLES'
web-tier @@WEB_TIER_ROLE_ARN@@
launch-controller @@LAUNCH_CONTROLLER_ROLE_ARN@@
monitor-controller @@MONITOR_CONTROLLER_ROLE_ARN@@
ROLES
exit $status
SCRIPT
chmod 0755 /usr/local/bin/ics-credentials
cat > /etc/systemd/system/ics-credentials.service <<'UNIT'
[Unit]
Description=Elastic image classifier: each control app's own AWS credentials
Wants=network-online.target
After=network-online.target
[Service]
Type=oneshot
ExecStart=/usr/local/bin/ics-credentials
# STS not answering at boot: try again soon rather than at the next timer tick.
Restart=on-failure
RestartSec=30
UNIT
cat > /etc/systemd/system/ics-credentials.timer <<'UNIT'
[Unit]
Description=Refresh the control apps' AWS credentials (they last an hour)
[Timer]
OnBootSec=1min
OnUnitActiveSec=15min
[Install]
WantedBy=timers.target
UNIT

# Logs: each unit appends to /var/log/ics/<app>.log; the agent ships them, logrotate bounds them.
cat > /etc/ics/cloudwatch-agent.json <<'JSON'
{"logs": {"logs_collected": {"files": {"collect_list": [
  {"file_path": "/var/log/ics/web-tier.log", "log_group_name": "@@WEB_TIER_LOG_GROUP@@", "log_stream_name": "{instance_id}"},
  {"file_path": "/var/log/ics/launch-controller.log", "log_group_name": "@@LAUNCH_CONTROLLER_LOG_GROUP@@", "log_stream_name": "{instance_id}"},
  {"file_path": "/var/log/ics/monitor-controller.log", "log_group_name": "@@MONITOR_CONTROLLER_LOG_GROUP@@", "log_stream_name": "{instance_id}"}
]}}}}
JSON
cat > /etc/logrotate.d/ics <<'ROTATE'
/var/log/ics/*.log {
  daily
  rotate 3
  maxsize 100M
  compress
  missingok
  notifempty
  copytruncate
}
ROTATE
# Log shipping must not keep the apps from starting: without the agent, the logs stay on the host.
{ dnf install -y -q amazon-cloudwatch-agent \
  && /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/etc/ics/cloudwatch-agent.json; } \
  || echo "cloudwatch agent not started: logs stay in /var/log/ics (retry: the two commands above)"

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
# The apps' users exist now: give each its credentials before it starts.
systemctl daemon-reload
systemctl enable --now ics-credentials.timer
# A failure here is retried by the service itself; the apps wait for their credentials (Restart=always).
systemctl start ics-credentials.service || echo "ics-credentials: not all roles assumed yet; retrying every 30 s" >&2
for app in "${apps[@]}"; do
  systemctl enable "$app.service"
  systemctl restart "$app.service"
done
echo "ics-install: ${apps[*]} running"
SCRIPT
chmod 0755 /usr/local/bin/ics-install

/usr/local/bin/ics-install --wait 60
