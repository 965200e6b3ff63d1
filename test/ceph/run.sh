#!/usr/bin/env bash
# Runs the whole test suite against a real Ceph RADOS Gateway (Ceph 16 from Debian's packages)
# on 127.0.0.1 instead of the in-process S3 server. Needs root (apt-get, ceph daemons).
# Usage: npm run test:ceph [-- vitest args]
# Ports and state dir differ from ceph-s3-up.sh's defaults so a Ceph you run by hand is left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CEPH_DIR=${CEPH_DIR:-/tmp/ceph-s3-coffer}
export RGW_PORT=${RGW_PORT:-7481} MON_V2_PORT=${MON_V2_PORT:-3301} MON_V1_PORT=${MON_V1_PORT:-6790}
# memstore: no 20 GB sparse file, nothing left on disk after --purge
export OSD_BACKEND=${OSD_BACKEND:-memstore} OSD_SIZE_GB=${OSD_SIZE_GB:-6}
export S3_BUCKET=${S3_BUCKET:-coffer-test}
already_up=0
curl -fsS -o /dev/null "http://127.0.0.1:$RGW_PORT/" 2>/dev/null && already_up=1
eval "$(bash "$here/ceph-s3-up.sh" | grep '^export')"
[ "$already_up" = 1 ] || trap 'bash "$here/ceph-s3-down.sh" --purge >/dev/null 2>&1 || true' EXIT
export S3_ENDPOINT=$AWS_ENDPOINT_URL S3_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export S3_REGION=$AWS_REGION S3_FORCE_PATH_STYLE=true
echo "Running the suite against Ceph RGW at $S3_ENDPOINT (bucket $S3_BUCKET)"
npm test -- "$@"
