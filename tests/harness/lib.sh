# shellcheck shell=sh
# Helpers for guest suites (tests/suites/*). Source it from a suite:
#   . "$P2PMR_TOP/tests/harness/lib.sh"
#
# A suite prints TAP on stdout, one line per test, through t_ok/t_fail/
# t_skip/t_check, and ends with t_done. Diagnostics go to stderr, which is
# the guest console (build/guest/out/console.log on the host). Every result
# is echoed to the console with a "p2pmr:" prefix so that progress shows.

P2PMR_BIN=${P2PMR_BIN:-${P2PMR_BUILD:-$P2PMR_TOP/build}/cmake/bin}
T_COUNT=0
T_FAILED=0

_t_line() {
	T_COUNT=$((T_COUNT + 1))
	echo "$1 $T_COUNT - $2"
	echo "p2pmr:   $1 $T_COUNT - $2" >&2
}

t_ok() {
	_t_line ok "$*"
}

t_fail() {
	T_FAILED=$((T_FAILED + 1))
	_t_line "not ok" "$*"
}

# t_skip DESCRIPTION REASON: REASON must name the missing piece.
t_skip() {
	_t_line ok "$1 # SKIP $2"
}

# _t_uptime: seconds since boot, to the hundredth, without a dot (1234).
_t_uptime() {
	read -r _t_up _t_idle </proc/uptime
	_t_up=${_t_up%.*}${_t_up#*.}
	_t_up=${_t_up#"${_t_up%%[1-9]*}"}
	echo "${_t_up:-0}"
}

# t_check DESCRIPTION COMMAND [ARGS...]: one test, passed when COMMAND
# exits 0. Its output goes to the console, prefixed with the test number;
# a line "--- test N took S s" after it says how long it ran
# (tests/harness/slowest-tests lists the longest of a run).
t_check() {
	_t_desc=$1
	shift
	_t_start=$(_t_uptime)
	echo "--- test $((T_COUNT + 1)): $_t_desc: $*" >&2
	if "$@" >&2; then
		_t_rc=0
	else
		_t_rc=$?
		echo "--- test $((T_COUNT + 1)) failed: '$*' exited with $_t_rc" >&2
	fi
	_t_took=$(($(_t_uptime) - ${_t_start:-0}))
	printf -- "--- test %d took %d.%02d s\n" $((T_COUNT + 1)) $((_t_took / 100)) \
		$((_t_took % 100)) >&2
	if [ $_t_rc -eq 0 ]; then
		t_ok "$_t_desc"
	else
		t_fail "$_t_desc"
	fi
}

t_done() {
	echo "1..$T_COUNT"
	[ "$T_FAILED" -eq 0 ]
}

# output_has PATTERN COMMAND...: COMMAND exits 0 and prints a line matching
# the extended regular expression PATTERN (stdout and stderr, shown
# on the console).
output_has() {
	_pattern=$1
	shift
	_out=/tmp/output_has.$$
	"$@" >$_out 2>&1
	_rc=$?
	cat $_out
	if [ $_rc -ne 0 ]; then
		echo "expected exit status 0, got $_rc"
	elif ! grep -Eq -- "$_pattern" $_out; then
		echo "expected a line matching: $_pattern"
		_rc=1
	fi
	rm -f $_out
	[ $_rc -eq 0 ]
}

# pci_find VENDOR DEVICE: PCI address of the first device with these IDs
# (hex, no 0x), or nothing.
pci_find() {
	for _d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$_d/vendor")" = "0x$1" ] && [ "$(cat "$_d/device")" = "0x$2" ]; then
			echo "${_d##*/}"
			return 0
		fi
	done
	return 1
}

# pci_find_nth N VENDOR DEVICE: PCI address of the Nth (from 1) device with
# these IDs, in bus order, or nothing.
pci_find_nth() {
	_n=$1
	for _d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$_d/vendor")" = "0x$2" ] && [ "$(cat "$_d/device")" = "0x$3" ]; then
			_n=$((_n - 1))
			[ $_n -eq 0 ] && { echo "${_d##*/}"; return 0; }
		fi
	done
	return 1
}

# pci_driver BDF: name of the driver bound to the device, or nothing.
pci_driver() {
	_link=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) && basename "$_link"
}

# vfio_bind BDF: hand the device to vfio-pci (unbinding its driver first).
vfio_bind() {
	_dev=/sys/bus/pci/devices/$1
	[ -d "$_dev" ] || { echo "vfio_bind: no PCI device $1" >&2; return 1; }
	[ "$(pci_driver "$1")" = vfio-pci ] && return 0
	echo vfio-pci >"$_dev/driver_override"
	[ -e "$_dev/driver" ] && echo "$1" >"$_dev/driver/unbind"
	echo "$1" >/sys/bus/pci/drivers_probe
	[ "$(pci_driver "$1")" = vfio-pci ] || {
		echo "vfio_bind: $1 did not bind to vfio-pci (driver: $(pci_driver "$1"))" >&2
		return 1
	}
}

# pci_unbind BDF: leave the device without a driver (and without a
# driver_override, so that a later probe gives it its own driver back).
pci_unbind() {
	_dev=/sys/bus/pci/devices/$1
	[ -d "$_dev" ] || { echo "pci_unbind: no PCI device $1" >&2; return 1; }
	echo >"$_dev/driver_override"
	[ -e "$_dev/driver" ] && echo "$1" >"$_dev/driver/unbind"
	[ -z "$(pci_driver "$1")" ]
}

# rxe_setup: soft-RoCE device rxe0 over a dummy netdev, port active, GID 0
# usable (duplicate address detection off before the link comes up).
P2PMR_RXE=rxe0
rxe_setup() {
	[ -e /sys/class/infiniband/$P2PMR_RXE ] && return 0
	echo 0 >/proc/sys/net/ipv6/conf/all/accept_dad
	echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad
	ip link add p2pmr0 type dummy || return 1
	ip link set p2pmr0 up || return 1
	rdma link add $P2PMR_RXE type rxe netdev p2pmr0 || return 1
	_rxe_wait_active rxe_setup
}

# poll_until SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds,
# for at most SECONDS; fails when it never did.
poll_until() {
	_pu_left=$(($1 * 5))
	shift
	while [ $_pu_left -gt 0 ]; do
		"$@" && return 0
		sleep 0.2
		_pu_left=$((_pu_left - 1))
	done
	return 1
}

_rxe_active() {
	grep -q ACTIVE /sys/class/infiniband/$P2PMR_RXE/ports/1/state 2>/dev/null
}

# _rxe_wait_active CALLER: wait up to 10 s for rxe0's port to be active.
_rxe_wait_active() {
	poll_until 10 _rxe_active && return 0
	echo "$1: $P2PMR_RXE port not active" >&2
	return 1
}

# --- Two guests: the pair-* suites (run-guest-split, guest-lib.sh) --------
# Both guests run the same suite, each first in its guest (more suites may
# follow it there); the environment says which side this is:
#   P2PMR_ROLE        server or client
#   P2PMR_SELF_IP     this guest's IPv4 address (link-local, 169.254.77.x)
#   P2PMR_PEER_IP     the other guest's
#   P2PMR_NET_PREFIX  the prefix length of both (24)
#   P2PMR_SELF_MAC    this guest's NIC MAC address; P2PMR_PEER_MAC the other's
# net_setup adds P2PMR_NETDEV (the NIC's name here) and P2PMR_PEER_IP6 (the
# peer's fe80:: address with "%NETDEV", its rxe GID 0).

# mac_to_ll6 MAC: the IPv6 link-local address the kernel derives from MAC
# (EUI-64), written in full the way sysfs shows a GID:
# 52:54:00:77:00:02 gives fe80:0000:0000:0000:5054:00ff:fe77:0002.
mac_to_ll6() {
	# shellcheck disable=SC2046 # six words wanted
	set -- $(echo "$1" | tr : ' ')
	printf 'fe80:0000:0000:0000:%02x%s:%sff:fe%s:%s%s\n' $((0x$1 ^ 2)) "$2" "$3" "$4" "$5" "$6"
}

# net_setup: bring the NIC on the pair's network up with P2PMR_SELF_IP.
# IPv6 duplicate address detection is off first, so that the fe80:: address
# (rxe's GID 0) is usable at once. Sets P2PMR_NETDEV and P2PMR_PEER_IP6.
net_setup() {
	if [ -z "${P2PMR_SELF_MAC:-}" ]; then
		echo "net_setup: no P2PMR_SELF_MAC: not a guest of a pair (run-guest --pair)" >&2
		return 1
	fi
	P2PMR_NETDEV=
	for _n in /sys/class/net/*; do
		[ "$(cat "$_n/address")" = "$P2PMR_SELF_MAC" ] && P2PMR_NETDEV=${_n##*/}
	done
	if [ -z "$P2PMR_NETDEV" ]; then
		echo "net_setup: no netdev has the MAC address $P2PMR_SELF_MAC" >&2
		return 1
	fi
	for _c in all default "$P2PMR_NETDEV"; do
		echo 0 >"/proc/sys/net/ipv6/conf/$_c/accept_dad"
	done
	ip addr replace "$P2PMR_SELF_IP/$P2PMR_NET_PREFIX" dev "$P2PMR_NETDEV" || return 1
	ip link set "$P2PMR_NETDEV" up || return 1
	P2PMR_PEER_IP6=$(mac_to_ll6 "$P2PMR_PEER_MAC")%$P2PMR_NETDEV
	poll_until 10 _netdev_up && return 0
	echo "net_setup: $P2PMR_NETDEV not up after 10 s" >&2
	return 1
}

_netdev_up() {
	[ "$(cat "/sys/class/net/$P2PMR_NETDEV/operstate")" = up ]
}

# rxe_setup_net: net_setup, then soft-RoCE device rxe0 over that NIC, its
# port active. GID 0 is the NIC's fe80:: address, GID 1 its IPv4 address.
rxe_setup_net() {
	net_setup || return 1
	_ndev=$(cat /sys/class/infiniband/$P2PMR_RXE/ports/1/gid_attrs/ndevs/0 2>/dev/null)
	if [ -n "$_ndev" ]; then
		[ "$_ndev" = "$P2PMR_NETDEV" ] && return 0
		echo "rxe_setup_net: $P2PMR_RXE exists already, over $_ndev" >&2
		return 1
	fi
	rdma link add $P2PMR_RXE type rxe netdev "$P2PMR_NETDEV" || return 1
	_rxe_wait_active rxe_setup_net
}

# rxe_remove_net: once the peer is done too (pair_barrier), remove rxe0
# and the NIC's address: the suites that follow in this guest make rxe0
# over a dummy netdev of their own (rxe_setup) and must not find one.
rxe_remove_net() {
	pair_barrier rxe-remove || return 1
	if [ -e /sys/class/infiniband/$P2PMR_RXE ]; then
		rdma link delete $P2PMR_RXE || return 1
	fi
	if ! poll_until 10 _rxe_gone; then
		echo "rxe_remove_net: $P2PMR_RXE still there after 10 s" >&2
		return 1
	fi
	ip addr flush dev "$P2PMR_NETDEV" && ip link set "$P2PMR_NETDEV" down
}

_rxe_gone() {
	[ ! -e /sys/class/infiniband/$P2PMR_RXE ]
}

# Rendezvous: the server listens on this TCP port, the client connects.
P2PMR_PAIR_PORT=${P2PMR_PAIR_PORT:-7700}
# How long one rendezvous waits for the other guest, which may boot later
# or be slower: two emulated guests share two host cores.
P2PMR_PAIR_TIMEOUT=${P2PMR_PAIR_TIMEOUT:-300}

_uptime_s() {
	read -r _up _ </proc/uptime
	echo "${_up%.*}"
}

# pair_exchange TAG [WORD...]: meet the other guest and trade one line:
# send "WORD..." under TAG, print what the peer sent under the same TAG.
# Both guests make the same calls in the same order; a call returns when
# both have made it, or fails after P2PMR_PAIR_TIMEOUT seconds, or when the
# peer's TAG differs (the two suites are out of step). Values are one line.
#   peer=$(pair_exchange mr "$rkey $addr") || ...
#   set -- $peer    # the peer's rkey in $1, its address in $2
# Over TCP with busybox nc: the server listens on P2PMR_PAIR_PORT, the
# client connects to P2PMR_PEER_IP (again and again while refused).
pair_exchange() {
	_px_tag=$1
	shift
	case $_px_tag in
	'' | *[[:space:]]*)
		echo "pair_exchange: TAG must be one word, not '$_px_tag'" >&2
		return 1
		;;
	esac
	_px_line="$_px_tag $*"
	case ${P2PMR_ROLE:-} in
	server)
		if ! _px_got=$(echo "$_px_line" | /bin/busybox timeout "$P2PMR_PAIR_TIMEOUT" \
			/bin/busybox nc -l -p "$P2PMR_PAIR_PORT"); then
			echo "pair_exchange $_px_tag: no client on port $P2PMR_PAIR_PORT in ${P2PMR_PAIR_TIMEOUT}s" >&2
			return 1
		fi
		;;
	client)
		_px_end=$(($(_uptime_s) + P2PMR_PAIR_TIMEOUT))
		until _px_got=$(echo "$_px_line" | /bin/busybox timeout 60 \
			/bin/busybox nc -w 5 "$P2PMR_PEER_IP" "$P2PMR_PAIR_PORT" 2>/dev/null); do
			if [ "$(_uptime_s)" -ge $_px_end ]; then
				echo "pair_exchange $_px_tag: the server $P2PMR_PEER_IP:$P2PMR_PAIR_PORT did not answer in ${P2PMR_PAIR_TIMEOUT}s" >&2
				return 1
			fi
			sleep 0.5
		done
		;;
	*)
		echo "pair_exchange: P2PMR_ROLE is '${P2PMR_ROLE:-}': not a guest of a pair (run-guest --pair)" >&2
		return 1
		;;
	esac
	if [ "${_px_got%% *}" != "$_px_tag" ]; then
		echo "pair_exchange $_px_tag: the peer sent '$_px_got'" >&2
		return 1
	fi
	echo "${_px_got#* }"
}

# pair_barrier TAG: return when the other guest has reached pair_barrier TAG.
pair_barrier() {
	pair_exchange "$1" "$P2PMR_ROLE" >/dev/null
}

# tcp_wait_listen PORT [SECONDS]: wait (default 30 s) until a program here
# listens on TCP PORT, e.g. a server the peer is to connect to.
tcp_wait_listen() {
	_hex=$(printf '%04X' "$1")
	_i=0
	until grep -Eq "^ *[0-9]+: [0-9A-F]+:$_hex [0-9A-F]+:[0-9A-F]+ 0A " /proc/net/tcp /proc/net/tcp6; do
		_i=$((_i + 1))
		if [ $_i -ge $((${2:-30} * 5)) ]; then
			echo "tcp_wait_listen: nothing listens on TCP port $1 after ${2:-30} s" >&2
			return 1
		fi
		sleep 0.2
	done
}
