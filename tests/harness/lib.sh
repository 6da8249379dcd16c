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

# t_check DESCRIPTION COMMAND [ARGS...]: one test, passed when COMMAND
# exits 0. Its output goes to the console, prefixed with the test number.
t_check() {
	_t_desc=$1
	shift
	echo "--- test $((T_COUNT + 1)): $_t_desc: $*" >&2
	if "$@" >&2; then
		t_ok "$_t_desc"
	else
		_t_rc=$?
		echo "--- test $((T_COUNT + 1)) failed: '$*' exited with $_t_rc" >&2
		t_fail "$_t_desc"
	fi
}

t_done() {
	echo "1..$T_COUNT"
	[ "$T_FAILED" -eq 0 ]
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
	_i=0
	while [ $_i -lt 50 ]; do
		grep -q ACTIVE /sys/class/infiniband/$P2PMR_RXE/ports/1/state 2>/dev/null && return 0
		sleep 0.2
		_i=$((_i + 1))
	done
	echo "rxe_setup: $P2PMR_RXE port not active" >&2
	return 1
}
