#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The S3 server the test suite runs against: a single-node Ceph RADOS
# Gateway on 127.0.0.1 (one monitor, one OSD, one radosgw; no manager,
# no cephx).  It is a real S3 implementation: it verifies SigV4 and the
# payload hash, honours If-None-Match on PUT, pages ListObjectsV2 and
# enforces object lock.
#
#   s3-server.sh start    start it (idempotent: a healthy server is kept)
#                         and print its environment as shell exports
#   s3-server.sh env      print the exports of the running server
#   s3-server.sh status   exit 0 when it is running and answering
#   s3-server.sh stop     kill its daemons and remove the state directory
#
# Two S3 users are created: the main one (full access, AWS_* exports) and
# a "limited" one with no buckets of its own (S3_LIMITED_* exports), for
# tests of refused access.  Progress goes to stderr, exports to stdout.
#
# Settings (environment): SP_S3_DIR (state, default /var/tmp/sp-s3),
# SP_S3_PORT (HTTP, 7480), SP_S3_MON_PORT (msgr2; msgr1 is +1, 40300),
# SP_S3_STORE (bluestore, or memstore: all data in RAM), SP_S3_SIZE_GB (20).
set -euo pipefail

state=${SP_S3_DIR:-/var/tmp/sp-s3}
port=${SP_S3_PORT:-7480}
mon_port=${SP_S3_MON_PORT:-40300}
store=${SP_S3_STORE:-bluestore}
size_gb=${SP_S3_SIZE_GB:-20}
conf=$state/ceph.conf
run=$state/run
endpoint=http://127.0.0.1:$port
rgw_name=client.rgw.sp
# Fixed test credentials: the server is loopback-only and thrown away.
access=SPTESTACCESSKEY00001
secret=sptestsecretkey0000000000000000000000001
limited_access=SPTESTLIMITEDKEY0001
limited_secret=sptestlimitedsecret000000000000000000001
started=$(date +%s%N)

note() {
	local ms=$((($(date +%s%N) - started) / 1000000))
	printf 's3-server [%d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*" >&2
}
fail() {
	note "error: $*"
	local f
	for f in "$run"/*.log; do
		[ -f "$f" ] || continue
		echo "--- last lines of $f" >&2
		tail -n 8 "$f" >&2
	done
	# a half-started server is not left behind
	[ -z "${starting:-}" ] || stop
	exit 1
}

exports() {
	cat <<EOF
export AWS_ENDPOINT_URL=$endpoint
export AWS_ACCESS_KEY_ID=$access
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=us-east-1
export S3_LIMITED_ACCESS_KEY_ID=$limited_access
export S3_LIMITED_SECRET_ACCESS_KEY=$limited_secret
EOF
}

# A daemon is ours only if its command line names our ceph.conf (a pid
# file may outlive its process and the pid be reused).  A zombie counts as
# dead: PID 1 here may reap a killed process seconds later.
ours() {
	local st
	st=$(sed -n 's/^[0-9]* (.*) \(.\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] || return 1
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "-c $conf"
}
daemon_pids() {
	local f p
	for f in "$run"/*.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f" 2>/dev/null) || continue
		ours "$p" && echo "$p"
	done
	return 0
}

# A signed request with curl's own SigV4; curl 7.88 does not add the
# payload hash header itself, so it is given (here: not signed).
signed() { # user:secret, curl args...
	local cred=$1
	shift
	curl -sS -o /dev/null -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 \
		--user "$cred" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

healthy() {
	[ -f "$state/ready" ] && [ -n "$(daemon_pids)" ] &&
		[ "$(signed "$access:$secret" "$endpoint/" 2>/dev/null)" = 200 ]
}

stop() {
	local f p i n=0
	# Order: gateway, OSD, monitor.  Data is discarded, so SIGKILL.
	for f in "$run/$rgw_name.pid" "$run"/osd.*.pid "$run"/mon.*.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f" 2>/dev/null) || continue
		ours "$p" || continue
		kill -KILL "$p" 2>/dev/null && n=$((n + 1))
		for i in $(seq 50); do
			ours "$p" || break
			sleep 0.1
		done
	done
	rm -rf "$state"
	note "stopped ($n daemons)"
}

# The daemons come from Debian's packages; tools/setup-debian.sh installs
# them.  Only when they are missing does this script call apt itself.
ensure_installed() {
	local tool missing=
	for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool uuidgen curl; do
		command -v "$tool" >/dev/null || missing=1
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || fail "ceph-mon, ceph-osd and radosgw are not installed (run tools/setup-debian.sh)"
	note "installing ceph-mon ceph-osd radosgw (about 60 MB)"
	export DEBIAN_FRONTEND=noninteractive
	local pkgs="ceph-mon ceph-osd radosgw uuid-runtime curl"
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $pkgs >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q --no-install-recommends $pkgs >&2; } ||
		fail "apt-get install $pkgs failed"
}

write_conf() { # fsid
	cat >"$conf" <<EOF
[global]
fsid = $1
mon_host = [v2:127.0.0.1:$mon_port,v1:127.0.0.1:$((mon_port + 1))]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# one OSD: pools of one replica, few placement groups
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
# test machines have small disks: do not stop writing at 95 %
mon_osd_full_ratio = .99
mon_osd_nearfull_ratio = .98
osd_failsafe_full_ratio = .995
mon_data_avail_warn = 2
mon_data_avail_crit = 1
run_dir = $run
log_file = $run/\$name.log
admin_socket = $run/\$name.asok
pid_file = $run/\$name.pid
keyring = $state/keyring
log_to_stderr = false
[mon]
mon_data = $state/mon.\$id
mon_allow_pool_delete = true
mon_cluster_log_file = $run/cluster.log
# every pool radosgw creates waits for a Paxos round (1 s by default):
# short rounds make the first request seconds faster
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
[osd]
osd_data = $state/osd\$id
osd_objectstore = $store
memstore_device_bytes = $((size_gb << 30))
# not "block": BlueStore makes osdN/block a symbolic link to this file
bluestore_block_path = $state/osd\$id/block.img
bluestore_block_create = true
bluestore_block_size = $((size_gb << 30))
bluestore_fsck_on_mkfs = false
bluestore_fsck_on_mount = false
osd_memory_target = 1073741824
osd_scrub_load_threshold = 2000
[$rgw_name]
rgw_frontends = beast endpoint=127.0.0.1:$port
rgw_data = $state/rgw
# radosgw's own defaults (cephx, secure mode) cannot talk to a monitor
# without cephx: it would retry for five minutes, then exit
auth_client_required = none
ms_mon_client_mode = crc
EOF
}

wait_until() { # tenths of a second, what, command...
	local n=$1 what=$2 i
	shift 2
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	fail "$what"
}
osd_up() { timeout 10 ceph -c "$conf" osd stat 2>/dev/null | grep -q ' 1 up'; }
rgw_answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$endpoint/")" = 200 ]; }

start() {
	ensure_installed
	if healthy; then
		note "running at $endpoint"
		exports
		return 0
	fi
	if [ -n "$(daemon_pids)" ]; then
		note "a half-started server is in $state: restarting it"
		stop
	fi
	ss -ltn 2>/dev/null | grep -qE "127\.0\.0\.1:($port|$mon_port|$((mon_port + 1))) " &&
		fail "port $port, $mon_port or $((mon_port + 1)) on 127.0.0.1 is taken"
	rm -rf "$state"
	starting=1
	mkdir -p "$run" "$state/mon.a" "$state/osd0" "$state/rgw"
	# BlueStore opens its block file with O_DIRECT, which tmpfs lacks.
	if [ "$store" = bluestore ] &&
		! dd if=/dev/zero of="$state/.direct" bs=4096 count=1 oflag=direct 2>/dev/null; then
		note "no O_DIRECT in $state: the OSD keeps its data in memory"
		store=memstore
	fi
	rm -f "$state/.direct"
	local fsid osd_uuid osd_id
	fsid=$(uuidgen)
	write_conf "$fsid"
	: >"$state/keyring"
	monmaptool --create --clobber --fsid "$fsid" \
		--addv a "[v2:127.0.0.1:$mon_port,v1:127.0.0.1:$((mon_port + 1))]" \
		"$state/monmap" >/dev/null
	ceph-mon --mkfs -i a --monmap "$state/monmap" -c "$conf" >"$run/mon-mkfs.log" 2>&1 ||
		fail "ceph-mon --mkfs failed"
	ceph-mon -i a -c "$conf" || fail "ceph-mon did not start"
	osd_uuid=$(uuidgen)
	osd_id=$(timeout 60 ceph -c "$conf" osd new "$osd_uuid") || fail "ceph osd new failed"
	# mkfs reports a missing label and fsid on the new block file: harmless
	ceph-osd -i "$osd_id" -c "$conf" --mkfs --osd-uuid "$osd_uuid" >"$run/osd-mkfs.log" 2>&1 ||
		fail "ceph-osd --mkfs failed"
	ceph-osd -i "$osd_id" -c "$conf" 2>>"$run/osd-start.log" || fail "ceph-osd did not start"
	wait_until 600 "the OSD did not come up" osd_up
	note "monitor and OSD up ($store)"
	radosgw -n "$rgw_name" -c "$conf" || fail "radosgw did not start"
	wait_until 600 "radosgw does not answer on $endpoint" rgw_answers
	note "radosgw answers on $endpoint"
	radosgw-admin -c "$conf" -n "$rgw_name" user create --uid=sp-test \
		--display-name=sp-test --access-key="$access" --secret-key="$secret" \
		>/dev/null 2>"$run/user.log" || fail "radosgw-admin user create failed"
	radosgw-admin -c "$conf" -n "$rgw_name" user create --uid=sp-limited \
		--display-name=sp-limited --access-key="$limited_access" \
		--secret-key="$limited_secret" --max-buckets=0 \
		>/dev/null 2>>"$run/user.log" || fail "radosgw-admin user create (limited) failed"
	# The first bucket and object create radosgw's index and data pools:
	# pay for that here, not in the first test.  The bucket has object lock,
	# which proves lock-enabled buckets can be made.
	local warm=sp-warm-up-$$
	printf x >"$state/warm-up"
	[ "$(signed "$access:$secret" -X PUT -H 'x-amz-bucket-object-lock-enabled: true' \
		"$endpoint/$warm")" = 200 ] || fail "creating a bucket with object lock failed"
	[ "$(signed "$access:$secret" -T "$state/warm-up" "$endpoint/$warm/x")" = 200 ] ||
		fail "the first PUT failed"
	signed "$access:$secret" -X DELETE "$endpoint/$warm/x" >/dev/null || true
	rm -f "$state/warm-up"
	touch "$state/ready"
	note "ready at $endpoint (daemons: $(daemon_pids | tr '\n' ' '))"
	exports
}

# The daemons outlive this script: they must not inherit a descriptor it
# was given.  A caller that serialises starts with flock(1) hands its lock
# down as fd 3, and a daemon holding it would block every later start.
close_inherited_fds() {
	local fd
	for fd in $(ls /proc/$$/fd); do
		[ "$fd" -gt 2 ] && [ "$fd" -lt 255 ] && eval "exec $fd>&-"
	done
	return 0
}

case ${1:-} in
start)
	close_inherited_fds
	start
	;;
stop) stop ;;
env)
	healthy || { note "not running"; exit 1; }
	exports
	;;
status)
	if healthy; then
		note "running at $endpoint (daemons: $(daemon_pids | tr '\n' ' '))"
	else
		note "not running"
		exit 1
	fi
	;;
*)
	echo "usage: $0 start|stop|status|env" >&2
	exit 2
	;;
esac
