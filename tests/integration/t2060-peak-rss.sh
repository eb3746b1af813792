#!/bin/bash
# Memory stays bounded whatever the chunk size: the default number of
# workers is what SP_JOB_WORKER_MEMORY allows (each holds about four
# chunks, five when it seals).  An encrypted vault of 16 MiB chunks would
# otherwise take 80 MiB a worker: about 300 MiB with this host's default
# of two workers per CPU, past the 256 MiB bar (bench/README.md).
. "$(dirname "$0")/lib.sh"

peak_kib() { # CMD...: run it, print its peak RSS in KiB
	python3 -c '
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$@"
}

export STILLPOINT_PASSPHRASE=t2060
expect_ok "init an encrypted vault of 16 MiB chunks" sp init --encrypt --chunk-size 16M
head -c 320M /dev/urandom >d.raw
b=$(peak_kib "$SP" --no-progress backup --name vm --disk d.raw)
check "the backup succeeded" test -n "$b"
say "backup peak RSS: $b KiB"
check "backup peak RSS under 256 MiB" test "$b" -lt 262144
mkdir r
rs=$(peak_kib "$SP" --no-progress restore vm --to r)
say "restore peak RSS: $rs KiB"
check "restore peak RSS under 256 MiB" test "$rs" -lt 262144
check "restored equal" cmp d.raw r/d.raw
done_testing
