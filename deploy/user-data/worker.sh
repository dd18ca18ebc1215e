#!/bin/bash
# User data of a classifier-worker instance (the launch template's). The CDK stack
# (infra/) fills every @@…@@ placeholder with the stack's values at synth time; nothing
# else in this file changes between stacks.
#
# 1. writes the worker's configuration: /etc/ics/ics.env and /etc/ics/classifier-worker.env
#    (the variables of libs/config; the unit reads both files),
# 2. installs the worker from the artifact bucket when the AMI is not a baked one
#    (a stock Amazon Linux 2023 works, only slower to boot), and the model if missing:
#    MODEL_URL (https:, pinned by MODEL_SHA256) when the stack has one, else a model uploaded
#    to the artifact bucket, else the model the worker artifact ships,
# 3. ships the worker's log to CloudWatch Logs (the CloudWatch agent),
# 4. starts classifier-worker.service.
# A failure here powers the instance off, which terminates it (the launch
# template's shutdown behaviour), so a broken worker never sits there billing.
set -euo pipefail
exec > >(tee -a /var/log/ics-user-data.log | logger -t ics-user-data) 2>&1

trap 'echo "ics user data failed at line $LINENO; powering off (terminates the instance)"; shutdown -h +1' ERR

region='@@AWS_REGION@@'
artifact_bucket='@@ARTIFACT_BUCKET@@'
model_url='@@MODEL_URL@@'
model_digest='@@MODEL_SHA256@@'

mkdir -p /etc/ics
cat > /etc/ics/ics.env <<'ENV'
AWS_REGION=@@AWS_REGION@@
STACK_NAME=@@STACK_NAME@@
INPUT_BUCKET=@@INPUT_BUCKET@@
OUTPUT_BUCKET=@@OUTPUT_BUCKET@@
LAUNCH_QUEUE_URL=@@LAUNCH_QUEUE_URL@@
MONITOR_QUEUE_URL=@@MONITOR_QUEUE_URL@@
OUTPUT_QUEUE_URL=@@OUTPUT_QUEUE_URL@@
OUTPUT_TOPIC_ARN=@@OUTPUT_TOPIC_ARN@@
IDLE_SECONDS=@@IDLE_SECONDS@@
IMAGE_DEADLINE_SECONDS=@@IMAGE_DEADLINE_SECONDS@@
LOG_LEVEL=@@LOG_LEVEL@@
ENV
cat > /etc/ics/classifier-worker.env <<'ENV'
WORKER_PLATFORM=ec2
MODEL_CACHE_DIR=/var/cache/ics/model-cache
ENV
if [ -n "$model_url" ]; then
  echo "MODEL_URL=$model_url" >> /etc/ics/classifier-worker.env
  echo "MODEL_SHA256=$model_digest" >> /etc/ics/classifier-worker.env
fi
chmod 0644 /etc/ics/*.env

if [ ! -f /opt/ics/classifier-worker/main.js ]; then
  echo "not a baked AMI: installing classifier-worker from s3://$artifact_bucket/artifacts/"
  tmp="$(mktemp -d)"
  aws s3 cp --region "$region" "s3://$artifact_bucket/artifacts/classifier-worker.tar.gz" "$tmp/classifier-worker.tar.gz"
  tar -xzf "$tmp/classifier-worker.tar.gz" -C "$tmp"
  bash "$tmp/classifier-worker/install.sh"
  rm -rf "$tmp"
fi
if [ -z "$model_url" ]; then
  if [ ! -f /opt/ics/model/model.json ]; then
    mkdir -p /opt/ics/model
    aws s3 sync --region "$region" --only-show-errors "s3://$artifact_bucket/models/current/" /opt/ics/model/
    chmod -R a+rX /opt/ics/model
  fi
  # An uploaded model wins; without one the worker runs the model its artifact ships.
  if [ -f /opt/ics/model/model.json ]; then
    echo "MODEL_DIR=/opt/ics/model" >> /etc/ics/classifier-worker.env
  fi
fi

mkdir -p /var/log/ics
# The metric: each worker's agent reports mem_used_percent once a minute, also without
# dimensions, so its per-minute sample count is the number of workers alive (the stack's
# dashboard, "Fleet size").
cat > /etc/ics/cloudwatch-agent.json <<'JSON'
{"logs": {"logs_collected": {"files": {"collect_list": [
  {"file_path": "/var/log/ics/classifier-worker.log", "log_group_name": "@@LOG_GROUP@@", "log_stream_name": "{instance_id}"}
]}}},
 "metrics": {"namespace": "ICS/@@STACK_NAME@@", "metrics_collection_interval": 60, "aggregation_dimensions": [[]],
  "metrics_collected": {"mem": {"measurement": ["mem_used_percent"]}}}}
JSON
# Log shipping is not worth a worker: without the agent the log stays on the instance.
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/etc/ics/cloudwatch-agent.json \
  || echo "cloudwatch agent not started: the worker's log stays in /var/log/ics"

systemctl enable --now classifier-worker.service
echo "classifier-worker started"
