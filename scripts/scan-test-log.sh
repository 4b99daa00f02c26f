#!/usr/bin/env bash
# Fails when the test run's TRACE-level log holds a secret: a JWT, a test password, a tenant
# API key, or a plaintext Pinecone / OpenAI key used by the tests. The tests give every such
# secret a recognisable shape (see tests/it/harness) so this scan can find it.
set -euo pipefail
log="${1:?usage: scan-test-log.sh <log file>}"
if [ ! -s "$log" ]; then
  echo "scan-test-log: $log is missing or empty (tests did not log?)" >&2
  exit 1
fi
patterns=(
  'eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}'   # a JWT (header.payload)
  'SEKRIT'                                        # every test password
  'tg_[a-z0-9]{10}_[A-Za-z0-9_-]{20,}'            # a tenant API key
  'pcsk-test-'                                    # test Pinecone keys
  'sk-test-upstream'                              # the test OpenAI key
)
status=0
for p in "${patterns[@]}"; do
  if grep -Eq -- "$p" "$log"; then
    echo "scan-test-log: found /$p/ in $log:" >&2
    grep -Eo -- ".{0,80}$p.{0,20}" "$log" | head -3 >&2
    status=1
  fi
done
lines=$(wc -l < "$log")
echo "scan-test-log: $lines log lines at TRACE level scanned; $([ $status = 0 ] && echo 'no secrets found' || echo 'SECRETS FOUND')"
exit $status
