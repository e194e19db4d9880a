#!/usr/bin/env bash
# vps-sim-snap.sh: a throwaway Debian 12 "VPS" (systemd in systemd-nspawn) that runs snap under the
# project's systemd units (or its cron file) against the fake Polymarket, so the units are checked
# under a real systemd, not just parsed. Recipe and gotchas: shared/reference/vps-sim.md.
#
#   vps-sim-snap.sh e2e                  up + the checks of cmd_e2e below + down; PASS/FAIL lines
#   vps-sim-snap.sh up                   overlay + netns + fake Polymarket + snap installed + boot
#   vps-sim-snap.sh exec CMD...          run CMD inside the container (systemctl, journalctl, ...)
#   vps-sim-snap.sh fake METHOD PATH [JSON]   the fake's control API, e.g.
#                                        fake POST /_control/fault '{"target":"clob","mode":"delay","ms":3000}'
#   vps-sim-snap.sh reboot|crash|start|stop   clean reboot, power cut (SIGKILL of PID 1), boot, poweroff
#   vps-sim-snap.sh down                 stop everything; delete the overlay, netns, cgroups, servers
#   vps-sim-snap.sh base                 only build the bookworm rootfs (cached; ~25 s, ~170 MB)
#
# Environment:
#   SNAP_BIN     the release binary (swift build -c release --static-swift-stdlib);
#                default .build/release/snap
#   VPS_WORK     where overlays and logs go (default /var/tmp/orderbooks-vps; not under the repo)
#   VPS_BASE     the cached rootfs (default $VPS_WORK/base); VPS_NAME (default obsnap)
#   SEAL_BIN, SHIP_BIN  seal and ship beside SNAP_BIN unless set
#   E2E_SECONDS  how long e2e lets the timer run (default 30); E2E_CRON=1 also checks cron/ (~2 min);
#                E2E_SHIP=1 also checks seal, ship and prune under their units against an sftp
#                remote (rclone serve sftp in the container's namespace), with an outage (~3 min)
# Needs root; installs systemd-container, mmdebstrap, openssl, python3 (and rclone for E2E_SHIP)
# with apt when missing.
# The single-quoted $0/$1 below are meant for mmdebstrap's hooks and an inner bash:
# shellcheck disable=SC2016
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${VPS_WORK:-/var/tmp/orderbooks-vps}
NAME=${VPS_NAME:-obsnap}
BASE=${VPS_BASE:-$WORK/base}
SNAP_BIN=${SNAP_BIN:-$REPO/.build/release/snap}
SEAL_BIN=${SEAL_BIN:-$(dirname "$SNAP_BIN")/seal}
SHIP_BIN=${SHIP_BIN:-$(dirname "$SNAP_BIN")/ship}
D=$WORK/$NAME      # this container's overlay dirs, pids, logs and fake server state
ROOT=$D/merged     # the container's / as seen from the host
SPOOL=$ROOT/var/lib/orderbooks/spool
MIRROR=${MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
# What the base has besides minbase (scripts/package-test builds a base without libcurl4 and the rest,
# to prove the package's Depends suffice).
BASE_INCLUDE=${VPS_BASE_INCLUDE:-systemd,systemd-sysv,dbus,iproute2,libcurl4,ca-certificates,cron}
T0=${EPOCHREALTIME/./}

log() { local ms=$(( (${EPOCHREALTIME/./} - T0) / 1000 )); printf '[%4d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*"; }

need_tools() {
    local missing=()
    command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v python3 >/dev/null || missing+=(python3)
    command -v rclone >/dev/null || missing+=(rclone)
    if ((${#missing[@]})); then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# --- rootfs ---------------------------------------------------------------------------------------

cmd_base() {
    [ -e "$BASE/.complete" ] && return 0
    need_tools
    rm -rf "$BASE"; mkdir -p "$(dirname "$BASE")"
    # What the VPS has: systemd, and snap's runtime deps (libcurl4, ca-certificates); cron for the
    # cron variant (disabled, so it never runs next to the timer). Timers that add noise are masked.
    mmdebstrap --quiet --variant=minbase \
        --include="$BASE_INCLUDE" \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer dpkg-db-backup.timer console-getty.service' \
        --customize-hook='[ ! -e "$1/lib/systemd/system/cron.service" ] || chroot "$1" systemctl disable cron.service' \
        --customize-hook=': > "$1/etc/machine-id"' \
        bookworm "$BASE" "$MIRROR"
    touch "$BASE/.complete"
}

# --- container lifecycle ----------------------------------------------------------------------------

# Each container gets its own cgroup, or nspawn --keep-unit puts every container's payload in one.
# On this hybrid (v1) host the container's systemd has no CPU accounting of its own, so the
# launcher also joins a cpuacct group: its cpuacct.usage is the whole container's CPU time.
cg_dirs() {
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then echo "/sys/fs/cgroup/vpssim.$NAME"; return; fi
    echo "/sys/fs/cgroup/unified/vpssim.$NAME /sys/fs/cgroup/systemd/vpssim.$NAME"
    [ -d /sys/fs/cgroup/cpuacct ] && echo "/sys/fs/cgroup/cpuacct/vpssim.$NAME"
    return 0
}
cpu_ns() { cat "/sys/fs/cgroup/cpuacct/vpssim.$NAME/cpuacct.usage" 2>/dev/null || echo 0; }

leader() {  # PID of the container's systemd (PID 1 inside)
    local nsp; nsp=$(cat "$D/nspawn.pid" 2>/dev/null) || return 1
    pgrep -P "$nsp" -x systemd
}

in_vps() {  # machinectl and systemctl -M need machined and a system bus, which this host lacks
    local l; l=$(leader) || { echo "$NAME is not running" >&2; return 1; }
    nsenter -t "$l" -a "$@"
}

start_container() {
    if [ -f "$D/loop.pid" ] && kill -0 "$(cat "$D/loop.pid")" 2>/dev/null; then return 0; fi
    # --register=no --keep-unit: the host's PID 1 is not systemd (no machined, no bus).
    # --resolv-conf=off: keep our /etc/resolv.conf (the fake DNS server) in the container.
    # The loop restarts nspawn on exit code 133, which is how nspawn reports a reboot.
    setsid bash -c '
        for c in '"$(cg_dirs | tr '\n' ' ')"'; do mkdir -p "$c" && echo $$ > "$c/cgroup.procs"; done
        while :; do
            systemd-nspawn -q --register=no --keep-unit --console=read-only --resolv-conf=off \
                -D "$0/merged" -M "$1" --network-namespace-path="/run/netns/$1" --boot &
            echo $! > "$0/nspawn.pid"; wait $!; rc=$?
            echo "== nspawn exited rc=$rc at $(date +%T.%N)"
            [ $rc -eq 133 ] || exit $rc
        done' "$D" "$NAME" >>"$D/console.log" 2>&1 </dev/null &
    echo $! >"$D/loop.pid"
    wait_running
}

wait_running() {
    local end=$((SECONDS + 60)) s=
    while [ $SECONDS -lt $end ]; do
        s=$(in_vps systemctl is-system-running 2>/dev/null) || true
        case $s in running|degraded) return 0 ;; esac
        sleep 0.1
    done
    echo "timeout waiting for $NAME to boot (state=${s:-none}); see $D/console.log" >&2
    return 1
}

stop_container() {
    local loop nsp
    loop=$(cat "$D/loop.pid" 2>/dev/null) || return 0
    in_vps systemctl poweroff --no-block 2>/dev/null || true
    for _ in $(seq 1 150); do pgrep -P "$loop" -x systemd-nspawn >/dev/null || break; sleep 0.1; done
    if nsp=$(pgrep -P "$loop" -x systemd-nspawn); then
        kill "$loop" 2>/dev/null || true; kill -KILL "$nsp" 2>/dev/null || true
    fi
    for _ in $(seq 1 50); do kill -0 "$loop" 2>/dev/null || break; sleep 0.1; done
    rm -f "$D/loop.pid" "$D/nspawn.pid"
}

crash_container() {  # a power cut: SIGKILL the container's PID 1; nothing gets to clean up
    local l loop
    l=$(leader) && kill -KILL "$l"
    loop=$(cat "$D/loop.pid" 2>/dev/null) || return 0
    for _ in $(seq 1 50); do kill -0 "$loop" 2>/dev/null || break; sleep 0.1; done
    rm -f "$D/loop.pid" "$D/nspawn.pid"
}

reboot_container() {
    local l; l=$(leader) || return 1
    in_vps systemctl reboot --no-block 2>/dev/null || true
    while [ "$(leader 2>/dev/null)" = "$l" ]; do sleep 0.05; done
    sleep 0.2; wait_running
}

# --- the fake Polymarket and a fake DNS server, inside the container's network namespace -----------
# Started with `ip netns exec`, they bind 127.0.0.1 of the namespace the container shares, so snap
# reaches them on 127.0.0.1 and no packet leaves loopback. The DNS server answers every A query
# with 127.0.0.1, so a host name in a URL exercises real DNS lookups under the unit's sandbox.

DNS_SERVER='
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 53))
while True:
    q, peer = s.recvfrom(512)
    if len(q) < 12: continue
    end = 12
    while end < len(q) and q[end] != 0: end += 1 + q[end]
    question = q[12:end + 5]
    is_a = question[-4:-2] == b"\x00\x01"
    answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + socket.inet_aton("127.0.0.1") if is_a else b""
    # same id; flags: response, recursion desired+available, no error; 1 question, 0 or 1 answer
    s.sendto(q[:2] + b"\x81\x80" + struct.pack(">HHHH", 1, int(is_a), 0, 0) + question + answer, peer)
'

servers_start() {
    mkdir -p "$D/fake"; rm -f "$D/fake/endpoints.json"
    ip netns exec "$NAME" python3 "$REPO/Tests/FakePolymarket/fake_polymarket.py" --state-dir "$D/fake" \
        >"$D/fake.out" 2>"$D/fake.log" </dev/null &
    local _; for _ in $(seq 1 100); do [ -s "$D/fake/endpoints.json" ] && break; sleep 0.1; done
    [ -s "$D/fake/endpoints.json" ] || { cat "$D/fake.log" >&2; return 1; }
    endpoint pid >"$D/fake.pid"
    ip netns exec "$NAME" python3 -c "$DNS_SERVER" >"$D/dns.log" 2>&1 </dev/null &
    echo $! >"$D/dns.pid"   # `ip netns exec` execs the command, so $! is python's own PID
}

endpoint() {  # endpoint http|https|pid: from the fake's endpoints.json
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$D/fake/endpoints.json" "$1"
}

fake() {  # fake METHOD PATH [JSON]: the fake's control API (see Tests/FakePolymarket)
    ip netns exec "$NAME" python3 -c '
import sys, urllib.request
body = sys.argv[3].encode() if len(sys.argv) > 3 else None
print(urllib.request.urlopen(urllib.request.Request(sys.argv[2], data=body, method=sys.argv[1]), timeout=5).read().decode())
' "$1" "$(endpoint http)$2" "${@:3}"
}

# --- install snap the way the deployment does ------------------------------------------------------

install_snap() {  # into the not yet booted overlay, from the host side
    [ -x "$SNAP_BIN" ] || { echo "SNAP_BIN=$SNAP_BIN missing: swift build -c release --static-swift-stdlib" >&2; return 1; }
    chroot "$ROOT" useradd --system --user-group --home-dir /var/lib/orderbooks --no-create-home \
        --shell /usr/sbin/nologin orderbooks
    install -D -m 0755 "$SNAP_BIN" "$ROOT/opt/orderbooks/bin/snap"
    install -m 0644 "$REPO"/systemd-timers/orderbooks-snap.{service,timer} "$ROOT/etc/systemd/system/"
    install -d -m 0750 -g "$(chroot "$ROOT" id -g orderbooks)" "$ROOT/etc/orderbooks"
    install -m 0644 "$D/fake/ca.pem" "$ROOT/etc/orderbooks/fake-ca.pem"
    write_env "ORDERBOOKS_CLOB_URL=$(endpoint https)" "ORDERBOOKS_GAMMA_URL=$(endpoint https)" \
        "ORDERBOOKS_CA_FILE=/etc/orderbooks/fake-ca.pem"
    echo "nameserver 127.0.0.1" >"$ROOT/etc/resolv.conf"
    echo "$NAME" >"$ROOT/etc/hostname"
}

write_env() {  # write_env LINE...: /etc/orderbooks/orderbooks.env, root:orderbooks 0640
    printf '%s\n' "$@" >"$ROOT/etc/orderbooks/orderbooks.env"
    chown "0:$(chroot "$ROOT" id -g orderbooks)" "$ROOT/etc/orderbooks/orderbooks.env"
    chmod 0640 "$ROOT/etc/orderbooks/orderbooks.env"
}

cmd_up() {
    need_tools; cmd_base
    if [ -e "$D/loop.pid" ]; then echo "$NAME is already up (run down first)" >&2; return 1; fi
    rm -rf "$D"; mkdir -p "$D"/{upper,work,merged}
    mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$D/upper,workdir=$D/work" "$ROOT"
    # A persistent netns with only loopback: it survives reboots and crashes, and has no route out.
    [ -e "/run/netns/$NAME" ] || { ip netns add "$NAME"; ip -n "$NAME" link set lo up; }
    servers_start
    install_snap
    start_container
}

cmd_down() {
    local p c
    stop_container
    for p in fake dns sftp; do
        if [ -f "$D/$p.pid" ]; then kill "$(cat "$D/$p.pid")" 2>/dev/null || true; fi
    done
    sleep 0.5   # the fake stops within its 0.2 s poll interval
    if [ -e "/run/netns/$NAME" ]; then ip netns del "$NAME"; fi
    if mountpoint -q "$ROOT"; then umount "$ROOT"; fi
    for c in $(cg_dirs); do
        if [ -d "$c" ]; then find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
    done
    rm -rf "$D"
}

# --- end-to-end checks ----------------------------------------------------------------------------

FAILS=0
check() {  # check DESCRIPTION COMMAND...: one PASS/FAIL line; never aborts the run
    if "${@:2}"; then log "PASS $1"; else log "FAIL $1"; FAILS=$((FAILS + 1)); fi
}
files() { { find "$SPOOL" -name '*.jsonl.gz' 2>/dev/null || true; } | wc -l; }  # 0 before the first run
unit() { in_vps systemctl show -P "$1" orderbooks-snap.service; }
is_activating() { [ "$(unit ActiveState)" = activating ]; }
wait_for() {  # wait_for SECONDS COMMAND...
    local end=$((SECONDS + $1)); shift
    until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.1; done
}
all_gzip_ok() { [ "$(files)" -gt 0 ] && find "$SPOOL" -name '*.jsonl.gz' -exec gzip -t {} +; }
# grep -c, not grep -q: -q stops reading early, and with pipefail the writer's SIGPIPE fails the check.
newest_has() {  # newest_has REGEX: the newest snapshot's run row matches REGEX
    zcat "$(find "$SPOOL" -name '*.jsonl.gz' | sort | tail -1)" | grep '"kind":"run"' | grep -c "$1" >/dev/null
}
journal_has() {  # journal_has FIELD=VALUE [journalctl args]: some journal entry has exactly that field
    in_vps journalctl -o export --no-pager "${@:2}" | grep -cx "$1" >/dev/null
}
security_ok() { in_vps systemd-analyze security --threshold=25 orderbooks-snap.service --no-pager >/dev/null 2>&1; }
ge() { [ "$1" -ge "$2" ]; }

cmd_e2e() {
    local secs=${E2E_SECONDS:-30} n0 n1 c0 c1 starts score http
    trap cmd_down EXIT
    cmd_up; log "booted $NAME"

    check "systemd-analyze verify, inside" in_vps systemd-analyze verify orderbooks-snap.service orderbooks-snap.timer
    score=$(in_vps systemd-analyze security orderbooks-snap.service --no-pager | sed -n 's/.*exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    check "systemd-analyze security, inside: $score <= 2.5" security_ok

    # The timer, as shipped: about one run a second, every file whole, summaries filed as info.
    n0=$(files); c0=$(cpu_ns)
    in_vps systemctl enable --now orderbooks-snap.timer 2>/dev/null
    sleep "$secs"
    n1=$(files); c1=$(cpu_ns)
    starts=$(in_vps journalctl -b -u orderbooks-snap.service -o cat --no-pager | grep -c '^Starting' || true)
    log "timer ran ${secs}s: $starts runs, $((n1 - n0)) files, container CPU $(( (c1 - c0) / 1000000 / (n1 - n0 + 1) )) ms per file"
    check "at least $((secs - 2)) runs in ${secs}s" ge "$((n1 - n0))" "$((secs - 2))"
    check "every snapshot passes gzip -t" all_gzip_ok
    check "snap's summary is in the journal with PRIORITY=6" journal_has PRIORITY=6 -u orderbooks-snap.service -t orderbooks-snap
    check "no failed run" test "$(in_vps journalctl -u orderbooks-snap.service -o cat --no-pager | grep -c 'Failed with result' || true)" -eq 0
    check "boot_id recorded (ProcSubset=pid not set)" newest_has '"boot_id":"'

    # Real DNS (a host name for Gamma) and the system CA store (no ORDERBOOKS_CA_FILE) under the sandbox.
    in_vps systemctl stop orderbooks-snap.timer
    install -m 0644 "$D/fake/ca.pem" "$ROOT/usr/local/share/ca-certificates/fake-polymarket.crt"
    in_vps update-ca-certificates >/dev/null 2>&1
    http=$(endpoint http)
    write_env "ORDERBOOKS_CLOB_URL=$(endpoint https)" "ORDERBOOKS_GAMMA_URL=http://gamma.polymarket.test:${http##*:}" \
        "ORDERBOOKS_DISCOVERY_TTL=0"
    check "DNS + system CA store: a run succeeds" in_vps systemctl start orderbooks-snap.service
    check "DNS + system CA store: Gamma was asked by name" newest_has '"outcome":"complete".*"gamma_requests":[1-9]'
    write_env "ORDERBOOKS_CLOB_URL=$(endpoint https)" "ORDERBOOKS_GAMMA_URL=$(endpoint https)" \
        "ORDERBOOKS_CA_FILE=/etc/orderbooks/fake-ca.pem"
    in_vps systemctl start orderbooks-snap.timer

    # Slow CLOB (3 s a request): SIGKILL mid-run fails that run only; the timer goes on.
    fake POST /_control/fault '{"target":"clob","mode":"delay","ms":3000}' >/dev/null
    wait_for 10 is_activating || log "no run seen in flight"; sleep 1
    in_vps systemctl kill -s SIGKILL orderbooks-snap.service
    sleep 0.3
    check "SIGKILL mid-run -> Result=signal in the journal" journal_has "MESSAGE=orderbooks-snap.service: Failed with result 'signal'." -u orderbooks-snap.service --since=-10s
    fake DELETE /_control/fault >/dev/null
    n0=$(files); sleep 5; n1=$(files)
    check "timer goes on after SIGKILL ($n0 -> $n1 files)" ge "$((n1 - n0))" 2
    check "the run after SIGKILL succeeded" test "$(unit Result)" = success

    # Power cut mid-run, then boot: the timer resumes and no partial file is in the spool.
    fake POST /_control/fault '{"target":"clob","mode":"delay","ms":3000}' >/dev/null
    wait_for 10 is_activating || log "no run seen in flight"; sleep 1
    crash_container; log "power cut (SIGKILL of the container's PID 1) mid-run"
    fake DELETE /_control/fault >/dev/null
    start_container; log "booted again"
    n0=$(files); sleep 4; n1=$(files)
    check "timer resumes after the power cut ($n0 -> $n1 files)" ge "$((n1 - n0))" 2
    check "every snapshot passes gzip -t after the power cut" all_gzip_ok
    check "journal kept both boots" ge "$(in_vps journalctl --list-boots --no-pager | tail -n +2 | wc -l)" 2

    if [ "${E2E_SHIP:-0}" = 1 ]; then ship_check; fi
    if [ "${E2E_CRON:-0}" = 1 ]; then cron_check; fi
    log "done: $FAILS failure(s)"
    [ "$FAILS" -eq 0 ]
}

# --- seal, ship and prune under their units, against an sftp remote in the container's namespace ---
# The VPS gets Debian's rclone (the host's binary: the same package, linked against glibc only) and
# a real rclone.conf in /etc/orderbooks/rclone/, as docs/OPERATIONS.md installs it. The remote is
# `rclone serve sftp` on the namespace's loopback, so the units' sandbox (seccomp filter,
# MemoryDenyWriteExecute, address families) is exercised with a real Go rclone and real SSH.

REMOTE=$D/remote   # what the sftp server serves, seen from the host
sftp_start() {  # sftp_start [PORT]: on a fixed port when given, so the remote comes back where it was
    mkdir -p "$REMOTE" "$D/sftp-cache"
    : >"$D/sftp.log"
    ip netns exec "$NAME" rclone serve sftp "$REMOTE" --addr "127.0.0.1:${1:-0}" --user ob --pass ob \
        --config /dev/null --cache-dir "$D/sftp-cache" --dir-cache-time 0s --authorized-keys /dev/null \
        >"$D/sftp.log" 2>&1 </dev/null &
    echo $! >"$D/sftp.pid"
    wait_for 10 grep -q 'SFTP server listening on' "$D/sftp.log"
    sed -n 's/.*SFTP server listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$D/sftp.log" | head -1 >"$D/sftp.port"
}
sftp_stop() { kill "$(cat "$D/sftp.pid")" 2>/dev/null || true; sleep 0.3; }

install_ship() {  # seal, ship, their units, rclone and its config, into the running container
    local gid; gid=$(chroot "$ROOT" id -g orderbooks)
    install -m 0755 "$SEAL_BIN" "$ROOT/opt/orderbooks/bin/seal"
    install -m 0755 "$SHIP_BIN" "$ROOT/opt/orderbooks/bin/ship"
    install -m 0755 "$(command -v rclone)" "$ROOT/usr/bin/rclone"
    install -m 0644 "$REPO"/systemd-timers/orderbooks-{seal,ship,prune}.{service,timer} "$ROOT/etc/systemd/system/"
    install -d -m 0700 -o "$(chroot "$ROOT" id -u orderbooks)" -g "$gid" "$ROOT/etc/orderbooks/rclone"
    printf '%s\n' "[vps]" "type = sftp" "host = 127.0.0.1" "port = $(cat "$D/sftp.port")" "user = ob" \
        "pass = $(rclone obscure ob)" "shell_type = unix" "md5sum_command = md5sum" "sha1sum_command = sha1sum" \
        >"$ROOT/etc/orderbooks/rclone/rclone.conf"
    chown "$(chroot "$ROOT" id -u orderbooks):$gid" "$ROOT/etc/orderbooks/rclone/rclone.conf"
    chmod 0600 "$ROOT/etc/orderbooks/rclone/rclone.conf"
    write_env "ORDERBOOKS_CLOB_URL=$(endpoint https)" "ORDERBOOKS_GAMMA_URL=$(endpoint https)" \
        "ORDERBOOKS_CA_FILE=/etc/orderbooks/fake-ca.pem" "ORDERBOOKS_SEGMENT_MINUTES=1" "ORDERBOOKS_GRACE_SECONDS=5" \
        "ORDERBOOKS_REMOTE=vps:orderbooks/polymarket" "ORDERBOOKS_KEEP_DAYS=0"
    in_vps systemctl daemon-reload
}

ship_unit() { in_vps systemctl show -P "$2" "orderbooks-$1.service"; }
next_minute() { local now; now=$(date +%s); sleep $(( 60 - now % 60 + 7 )); }  # past the 5 s grace
SEALED=$ROOT/var/lib/orderbooks/sealed
RECEIPTS=$ROOT/var/lib/orderbooks/receipts
parts() { { find "$SEALED" -name '*.manifest.json' 2>/dev/null || true; } | wc -l; }
receipts_verified() {  # every sealed part has a receipt that says verified, and the remote copy is identical
    local m part rel n=0
    while read -r m; do
        rel=${m#"$SEALED"/}; part=${rel%.manifest.json}
        grep -q '"status":"verified"' "$RECEIPTS/$part.receipt.json" || { log "not verified: $part"; return 1; }
        cmp -s "$SEALED/$part.jsonl.gz" "$REMOTE/orderbooks/polymarket/$part.jsonl.gz" || { log "remote differs: $part"; return 1; }
        cmp -s "$m" "$REMOTE/orderbooks/polymarket/$rel" || { log "remote manifest differs: $part"; return 1; }
        n=$((n + 1))
    done < <(find "$SEALED" -name '*.manifest.json')
    [ "$n" -gt 0 ]
}
unit_ok() { in_vps systemctl start "orderbooks-$1.service" 2>/dev/null && [ "$(ship_unit "$1" Result)" = success ]; }

# token_probe TOOL SHELL-TEST: runs the test in place of TOOL's ExecStart, under TOOL's own unit
# (a runtime drop-in), so it sees exactly the sandbox the tool gets; succeeds when the test does.
token_probe() {
    local dir="$ROOT/run/systemd/system/orderbooks-$1.service.d" rc=0
    mkdir -p "$dir"
    printf '[Service]\nExecStart=\nExecStart=/bin/sh -c "%s"\n' "$2" >"$dir/zz-token-probe.conf"
    in_vps systemctl daemon-reload
    in_vps systemctl start "orderbooks-$1.service" 2>/dev/null || rc=$?
    rm -rf "$dir"; in_vps systemctl daemon-reload
    return "$rc"
}

ship_check() {
    local score tool p0 status
    in_vps systemctl start orderbooks-snap.timer
    sftp_start; install_ship
    check "systemd-analyze verify, inside: seal, ship, prune" in_vps systemd-analyze verify \
        orderbooks-seal.service orderbooks-seal.timer orderbooks-ship.service orderbooks-ship.timer \
        orderbooks-prune.service orderbooks-prune.timer
    for tool in ship prune; do
        score=$(in_vps systemd-analyze security "orderbooks-$tool.service" --no-pager | sed -n 's/.*exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        check "systemd-analyze security, inside: $tool $score <= 2.5" \
            in_vps systemd-analyze security --threshold=25 "orderbooks-$tool.service" --no-pager
    done

    # The Drive token is ship's alone: snap and seal (which parse network answers and files) run as
    # the same user but must not see it; ship and prune must read and rewrite it.
    in_vps systemctl stop orderbooks-snap.timer
    for tool in snap seal; do
        check "$tool.service cannot read the rclone token" \
            token_probe "$tool" "! cat /etc/orderbooks/rclone/rclone.conf && ! ls /etc/orderbooks/rclone/"
    done
    for tool in ship prune; do
        check "$tool.service reads and can replace the rclone token" \
            token_probe "$tool" "cat /etc/orderbooks/rclone/rclone.conf >/dev/null && touch /etc/orderbooks/rclone/.probe && rm /etc/orderbooks/rclone/.probe"
    done
    in_vps systemctl start orderbooks-snap.timer

    # Snapshots for a minute, sealed by the unit, shipped by the unit: verified, byte-identical.
    next_minute
    check "seal.service succeeds" unit_ok seal
    check "seal made parts ($(parts))" ge "$(parts)" 1
    check "ship.service succeeds (rclone under the sandbox, config in /etc/orderbooks/rclone)" unit_ok ship
    check "every part verified, remote byte-identical" receipts_verified
    check "ship's summary is in the journal with PRIORITY=6" journal_has PRIORITY=6 -u orderbooks-ship.service -t orderbooks-ship

    # The remote goes away: ship fails with 69 and keeps everything; it comes back: the next ship converges.
    sftp_stop
    next_minute; p0=$(parts)
    check "seal.service succeeds while the remote is down" unit_ok seal
    in_vps systemctl start orderbooks-ship.service 2>/dev/null || true
    status=$(ship_unit ship ExecMainStatus)
    check "ship.service fails with 69 while the remote is down (got $status)" test "$status" = 69
    check "a receipt says failed, unavailable" grep -rlq '"error_class":"unavailable"' "$RECEIPTS"
    check "nothing local deleted ($p0 -> $(parts) parts)" ge "$(parts)" "$p0"
    sftp_start "$(cat "$D/sftp.port")"
    check "ship.service succeeds once the remote is back" unit_ok ship
    check "every part verified after the outage" receipts_verified

    # Prune (keep-days 0): deletes verified parts after a fresh listing, records each deletion.
    p0=$(parts)
    check "prune.service succeeds" unit_ok prune
    check "prune deleted the $p0 verified part(s)" test "$(parts)" -eq 0
    check "a .pruned.json per deleted part" test "$(find "$RECEIPTS" -name '*.pruned.json' | wc -l)" -eq "$p0"
    check "the remote keeps them" test "$(find "$REMOTE" -name '*.jsonl.gz' | wc -l)" -ge "$p0"
}

cron_check() {  # cron/orderbooks under Debian's cron: one minute's job gives about 60 files
    local now n0 n1
    in_vps systemctl disable --now orderbooks-snap.timer 2>/dev/null
    install -m 0644 "$REPO/cron/orderbooks" "$ROOT/etc/cron.d/orderbooks"
    now=$(date +%s); sleep $(( 60 - now % 60 + 2 ))   # start cron just after a minute boundary
    in_vps systemctl start cron
    now=$(date +%s); sleep $(( 60 - now % 60 ))      # its first job starts at the next boundary
    n0=$(files); sleep 60
    in_vps systemctl stop cron   # KillMode=process: the running minute's job finishes by itself
    sleep 2; n1=$(files)
    log "cron: $((n1 - n0)) files in one minute"
    check "cron: at least 55 files in a minute" ge "$((n1 - n0))" 55
    check "cron: logger lines in the journal" journal_has "SYSLOG_IDENTIFIER=orderbooks-snap" _COMM=logger --since=-70s
}

# Sourced (scripts/package-test): only the functions above.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then return 0; fi

cmd=${1:-}; [ $# -gt 0 ] && shift
case $cmd in
    base) cmd_base ;;
    up) cmd_up ;;
    exec) in_vps "$@" ;;
    fake) fake "$@" ;;
    start) start_container ;;
    stop) stop_container ;;
    reboot) reboot_container ;;
    crash) crash_container ;;
    down) cmd_down ;;
    e2e) cmd_e2e ;;
    *) sed -n '2,/^# Needs root/p' "$0"; exit 64 ;;
esac
