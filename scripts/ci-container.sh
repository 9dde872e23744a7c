# Sourced by scripts/systemd-boot-test and scripts/package-test: a minimal Debian 12 tree
# booted under a real systemd with systemd-nspawn (README: "The units under a real systemd").
#
#   ci_tree                     install nspawn and debootstrap, build the tree once (cached
#                               in $SPAMTUNE_CI_CACHE, /var/cache/spamtune-ci); sets $tree
#   ci_boot WORK [NSPAWN_ARG...]  boot $tree on a throw-away overlay with its own network;
#                               console in WORK/console.log; sets $init_pid
#   inside COMMAND...           run a command in the booted container (as root, bounded)
#   ci_halt                     power the container off (also on exit)
# As root.

# Every package the tests need inside the tree, and the tree's name: a new list builds a
# new tree.
ci_packages=systemd,systemd-sysv,dbus,postfix,swaks,spamc,libbz2-1.0,libcurl4

# systemd-nspawn of the host's systemd version, so apt-get does not upgrade the host's systemd.
ci_install_tools() {
    command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null && return
    local version
    version=$(dpkg-query -W -f='${Version}' systemd)
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap "systemd-container=$version" >/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap systemd-container >/dev/null
}

ci_tree() {
    ci_install_tools
    local cache=${SPAMTUNE_CI_CACHE:-/var/cache/spamtune-ci} start
    tree=$cache/bookworm-$(echo "$ci_packages" | sha256sum | cut -c1-12)
    mkdir -p "$cache"
    [ -d "$tree" ] && return
    # One builder at a time; the tree appears whole (renamed into place) or not at all.
    exec 9>"$cache/lock"
    flock 9
    if [ ! -d "$tree" ]; then
        echo "== building the Debian tree $tree (once; a few minutes)"
        rm -rf "$tree.partial"
        start=$SECONDS
        DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase --include="$ci_packages" bookworm "$tree.partial" \
            http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 ||
            { tail -20 "$cache/debootstrap.log" >&2; echo "debootstrap failed" >&2; return 1; }
        mv "$tree.partial" "$tree"
        echo "== tree built in $((SECONDS - start)) s"
    fi
    exec 9>&-
}

nspawn_pid=
init_pid=
ci_halt() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill "$nspawn_pid" 2>/dev/null || true  # nspawn halts the container on SIGTERM
        for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$nspawn_pid" 2>/dev/null || true
    fi
}

ci_boot() {
    local work=$1 machine state start=$SECONDS child
    shift
    machine=spamtune-$(basename "$work" | cut -d. -f2 | tr 'A-Z' 'a-z')
    # --keep-unit --register=no: without them nspawn asks the host's systemd for a scope.
    systemd-nspawn --quiet --boot --keep-unit --register=no --volatile=overlay --private-network \
        --machine="$machine" --directory="$tree" "$@" --console=pipe >"$work/console.log" 2>&1 </dev/null &
    nspawn_pid=$!
    # The container's PID 1 is nspawn's child once it has become systemd.
    for _ in $(seq 300); do
        child=$(pgrep -P "$nspawn_pid" || true)
        if [ -n "$child" ] && [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ]; then init_pid=$child; break; fi
        kill -0 "$nspawn_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$init_pid" ]; then
        cat "$work/console.log" >&2
        echo "systemd did not start in the container" >&2
        return 1
    fi
    # Until the manager answers on its socket, then until start-up is over.
    for _ in $(seq 300); do
        state=$(inside timeout 60 systemctl is-system-running --wait 2>/dev/null || true)
        [ -n "$state" ] && [ "$state" != offline ] && break
        sleep 0.1
    done
    echo "== systemd $(inside systemctl --version | head -1 | cut -d' ' -f2) booted in $((SECONDS - start)) s: $(inside systemctl is-system-running || true)"
}

# Bounded: a daemon that never answers (spamc waits for it) must fail the check, not hang CI.
inside() { timeout "${inside_timeout:-120}" nsenter --target "$init_pid" --all env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

ci_poweroff() {
    inside systemctl poweroff >/dev/null 2>&1 || true
    for _ in $(seq 200); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
}
