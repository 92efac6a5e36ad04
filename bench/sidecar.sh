#!/bin/bash
# The shell-loop sidecar aws-credfile replaces, as a blog post on running
# Harbor with IRSA publishes it ("Sidecar Container Magic": a native sidecar
# running the AWS CLI in a `sleep 1800` loop; the init container's command),
# with one change: the file is $CREDENTIALS_FILE instead of
# /home/harbor/.aws/credentials. `sidecar.sh once` runs one refresh step and
# exits (what `make bench` times); `sidecar.sh` alone runs the whole thing,
# refresh loop and `tail -f /dev/null` included (what it measures while idle).
# The YAML block scalar's indentation is removed, as Kubernetes passes it to sh.
# Run with bash: the aws-cli image's /bin/sh is bash.
# The AWS CLI comes from PATH; its endpoint, CA and keys from the environment.
set -e

# Function to get credentials
get_credentials() {
  echo "Getting AWS credentials..."
  CREDS=$(aws sts assume-role --role-arn $AWS_ROLE_ARN --role-session-name harbor-session --duration-seconds 3600 --output text)
  ACCESS_KEY=$(echo "$CREDS" | grep CREDENTIALS | cut -f2)
  SECRET_KEY=$(echo "$CREDS" | grep CREDENTIALS | cut -f4)
  SESSION_TOKEN=$(echo "$CREDS" | grep CREDENTIALS | cut -f5)

  cat > $CREDENTIALS_FILE << EOF
[default]
aws_access_key_id = $ACCESS_KEY
aws_secret_access_key = $SECRET_KEY
aws_session_token = $SESSION_TOKEN
EOF

  echo "Credentials updated at $(date)"
}

get_credentials
if [ "${1:-}" = once ]; then exit 0; fi

while true; do
  sleep 1800  # 30 minutes
  get_credentials
done &

# Keep container running
tail -f /dev/null
