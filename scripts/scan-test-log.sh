#!/usr/bin/env bash
# Fails when the test run's TRACE-level log holds a secret: a JWT, a test password, a tenant
# API key, or a plaintext Pinecone / OpenAI key used by the tests. The tests give every such
# secret a recognisable shape (see tests/it/harness) so this scan can find it.
# Drivers print binary values as decimal byte arrays (`[116, 103, 95, ...]`): each such array is
# decoded to text first and scanned too, so a secret cannot hide in that form.
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
# The log plus, on one line per array, the text of every decimal byte array in it.
decoded="$(mktemp)"
trap 'rm -f "$decoded"' EXIT
python3 - "$log" > "$decoded" <<'PY'
import re, sys
array = re.compile(rb"\[(\d{1,3}(?:, ?\d{1,3}){2,})\]")
with open(sys.argv[1], "rb") as log:
    for line in log:
        for match in array.finditer(line):
            numbers = [int(n) for n in match.group(1).split(b",")]
            if all(n < 256 for n in numbers):
                text = bytes(numbers).decode("utf-8", "replace").replace("\n", " ")
                sys.stdout.write("decoded byte array: " + text + "\n")
PY
arrays=$(wc -l < "$decoded")
status=0
for p in "${patterns[@]}"; do
  for file in "$log" "$decoded"; do
    if grep -Eq -- "$p" "$file"; then
      echo "scan-test-log: found /$p/ in $([ "$file" = "$log" ] && echo "$log" || echo "a decoded byte array of $log"):" >&2
      grep -Eo -- ".{0,80}$p.{0,20}" "$file" | head -3 >&2
      status=1
    fi
  done
done
lines=$(wc -l < "$log")
echo "scan-test-log: $lines log lines at TRACE level and $arrays byte arrays in them scanned; $([ $status = 0 ] && echo 'no secrets found' || echo 'SECRETS FOUND')"
exit $status
