# shellcheck shell=bash
# Host-side pieces shared by tests/harness/run-guest (one guest) and
# tests/harness/run-guest-split (suites spread over guests running at once,
# two of them joined by one network for the pair-* suites): the suite list,
# preparing a guest's OUT directory, its QEMU command line, the pair's
# network, one boot under the time limit with progress on the terminal, the
# TAP made from its console, and gathering several guests' TAP into one
# directory.
#
# Everything a guest writes on the host is below its OUT (console, TAP,
# the ivshmem backing files, QEMU's pid file): guests with distinct OUT
# directories can run at the same time.
#
# The sourcing script sets TOP, BUILD and HARNESS, then calls guest_options.

GUEST_BAR_SIZE=$((16 << 20))
# A second ivshmem-plain, below its own switch port, with a BAR larger than
# what one DMA segment (32-bit length) can describe: for the >= 8 GiB cases.
GUEST_BIG_BAR_SIZE=$((8 << 30))

# Devices a guest has only when one of its suites asks for them, by a line
# "# guest-devices: NAME..." in the suite file (or P2PMR_GUEST_DEVICES
# names them), so that the other guests stay as they were:
#   nvme-dma  a second NVMe controller (serial p2pmr-dma, no CMB) on a root
#             port of its own, whose namespace is the host file
#             OUT/nvme-dma.img (random bytes at each run; the guest reads it
#             as $P2PMR_NVME_DMA_FILE), for DMA by a userspace driver
#   edu       QEMU's edu device (1234:11e8, a DMA engine) on the root bus
#   edu-switch  another edu below the PCIe switch of the ivshmem (a fourth
#             downstream port): a peer reached by PCI bus address
GUEST_DEVICES_KNOWN="nvme-dma edu edu-switch"
GUEST_NVME_DMA_SIZE=$((32 << 20))

# guest_options NAME DEFAULT-OUT [ARGS...]: the options and suite names both
# commands take (see their headers) into kernel, out, timeout,
# suite_timeout, console, report, pass_env and suites.
guest_options() {
	local name=$1
	kernel=$BUILD/kernel/obj-test/arch/x86/boot/bzImage
	out=$2
	timeout=1800
	suite_timeout=600
	console=0
	report=1
	suites=()
	pass_env=()
	pair_role=
	pair_port=
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--kernel) kernel=$2; shift 2 ;;
		--out) out=$2; shift 2 ;;
		--timeout) timeout=$2; shift 2 ;;
		--suite-timeout) suite_timeout=$2; shift 2 ;;
		--console) console=1; shift ;;
		--pass-env) pass_env+=("$2"); shift 2 ;;
		--no-report) report=0; shift ;;
		--pair)
			pair_role=${2%%:*}
			pair_port=${2#*:}
			case " $GUEST_PAIR_ROLES " in
			*" $pair_role "*) ;;
			*) echo "$name: --pair ROLE:PORT, ROLE one of $GUEST_PAIR_ROLES, not '$2'" >&2; exit 2 ;;
			esac
			[[ $pair_port =~ ^[0-9]+$ ]] ||
				{ echo "$name: --pair ROLE:PORT, PORT a TCP port number, not '$2'" >&2; exit 2; }
			shift 2
			;;
		-*) echo "$name: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
		*) suites+=("$1"); shift ;;
		esac
	done
}

# guest_list_suites: the suites of tests/suites/list, in order.
guest_list_suites() {
	sed 's/#.*//;/^[[:space:]]*$/d' "$TOP/tests/suites/list"
}

# guest_is_pair_suite SUITE: SUITE runs in two guests at once on one
# network (its name starts with "pair-"), one the server, one the client.
guest_is_pair_suite() {
	[[ $1 == pair-* ]]
}

# Guest variants. A suite whose header has a line "# p2pmr-guest: NAME"
# runs in a guest of that variant, never beside the test guest's suites
# (run-guest takes the variant from its suites, run-guest-split gives each
# variant a guest of its own); the others run in the test guest:
#   qemu64-noiommu  the test kernel on a CPU model Linux does not allow P2P
#                   through the host bridge for (qemu64: AMD family 15,
#                   before Zen) with the IOMMU off (intel_iommu=off) and
#                   VFIO in no-IOMMU mode
#   stock-kernel    Debian's own 6.12 kernel without p2pmr's patches, with
#                   the initramfs of tests/harness/stock-kernel
# Nothing else changes: the devices, the root, the results share.
GUEST_VARIANTS="qemu64-noiommu stock-kernel"

# guest_suite_variant SUITE: the variant SUITE asks for ("" for none).
guest_suite_variant() {
	sed -n 's/^# p2pmr-guest: *\([a-z0-9-]*\).*/\1/p' "$TOP/tests/suites/$1" | head -n 1
}

# guest_pick_variant NAME: the variant of "suites" into "variant"; fails
# (exit 2) when they ask for different ones.
guest_pick_variant() {
	local s v first=1
	variant=
	for s in "${suites[@]}"; do
		[ -f "$TOP/tests/suites/$s" ] || continue
		v=$(guest_suite_variant "$s")
		if [ $first = 1 ]; then
			variant=$v
			first=0
		elif [ "$v" != "$variant" ]; then
			echo "$1: suites of different guest variants ('$variant', '$v' of $s) cannot share a guest" >&2
			exit 2
		fi
	done
}

# guest_variant_setup NAME: what "variant" changes: guest_cpu,
# guest_kernel_args (appended to the command line), kernel, initrd.
guest_variant_setup() {
	local files
	guest_cpu=EPYC
	guest_kernel_args=
	initrd=
	case $variant in
	"") ;;
	qemu64-noiommu)
		guest_cpu=qemu64
		guest_kernel_args="intel_iommu=off vfio.enable_unsafe_noiommu_mode=1"
		;;
	stock-kernel)
		mapfile -t files < <("$HARNESS/stock-kernel")
		[ ${#files[@]} = 2 ] || { echo "$1: tests/harness/stock-kernel failed" >&2; exit 1; }
		kernel=${files[0]}
		initrd=${files[1]}
		# Debian's kernel has the SRSO mitigation, which warns ("WARNING:
		# See .../srso.html") that the emulated EPYC lacks the microcode:
		# noise about TCG's CPU that would count as a kernel report.
		guest_kernel_args="spec_rstack_overflow=off"
		;;
	*) echo "$1: no guest variant '$variant' (known: $GUEST_VARIANTS)" >&2; exit 2 ;;
	esac
}

# guest_check NAME: the suites and the kernel exist.
guest_check() {
	local s
	for s in "${suites[@]}"; do
		[ -x "$TOP/tests/suites/$s" ] || { echo "$1: no suite tests/suites/$s" >&2; exit 2; }
	done
	[ -f "$kernel" ] || { echo "$1: no kernel at $kernel (run kernel/scripts/build)" >&2; exit 2; }
	guest_devices >/dev/null || exit 2
}

# guest_devices: the optional devices the suites in "suites" ask for (and
# P2PMR_GUEST_DEVICES), one per line; an unknown name stops the run.
guest_devices() {
	local s d
	{
		for s in "${suites[@]}"; do
			sed -n 's/^#[[:space:]]*guest-devices:[[:space:]]*//p' "$TOP/tests/suites/$s"
		done
		echo "${P2PMR_GUEST_DEVICES:-}"
	} | tr ' ' '\n' | sed '/^$/d' | sort -u | while read -r d; do
		case " $GUEST_DEVICES_KNOWN " in
		*" $d "*) echo "$d" ;;
		*) echo "guest_devices: unknown device '$d' (known: $GUEST_DEVICES_KNOWN)" >&2; return 1 ;;
		esac
	done
}

# guest_has_device NAME: the guest gets optional device NAME.
guest_has_device() {
	# No "| grep -q": under pipefail an early exit of grep could make the
	# writer's SIGPIPE the pipeline's status.
	case " $(guest_devices | tr '\n' ' ') " in
	*" $1 "*) return 0 ;;
	*) return 1 ;;
	esac
}

# guest_env OUT VAR VALUE: give the suites of the guest in OUT a variable.
# Single quotes, each ' in the value written as '\'': plain sh reads it.
guest_env() {
	printf "export %s='%s'\n" "$2" "${3//\'/\'\\\'\'}" >> "$1/guest.env"
}

# --- Two guests on one network (the pair-* suites) ------------------------
# run-guest --pair ROLE:PORT gives the guest a virtio-net NIC whose only
# peer is the other guest's: the server's QEMU listens on 127.0.0.1:PORT,
# the client's connects to it (a QEMU socket network), so the guests' traffic
# travels in one loopback TCP connection and nowhere else. They use
# link-local addresses only: IPv4 169.254.77.1 (server) and 169.254.77.2
# (client), /24, and the IPv6 fe80:: address of each MAC (rxe's GID 0). The
# suites see (tests/harness/lib.sh: net_setup, rxe_setup_net, pair_exchange):
#   P2PMR_ROLE        server or client
#   P2PMR_SELF_IP     this guest's IPv4 address; P2PMR_PEER_IP the other's
#   P2PMR_NET_PREFIX  24
#   P2PMR_SELF_MAC    this guest's NIC MAC address; P2PMR_PEER_MAC the other's
GUEST_PAIR_ROLES="server client"
declare -A GUEST_PAIR_PEER=([server]=client [client]=server)
declare -A GUEST_PAIR_MAC=([server]=52:54:00:77:00:01 [client]=52:54:00:77:00:02)
declare -A GUEST_PAIR_IP=([server]=169.254.77.1 [client]=169.254.77.2)

# guest_pair_env OUT ROLE: the variables above, for the guest in OUT.
guest_pair_env() {
	local peer=${GUEST_PAIR_PEER[$2]}
	guest_env "$1" P2PMR_ROLE "$2"
	guest_env "$1" P2PMR_SELF_IP "${GUEST_PAIR_IP[$2]}"
	guest_env "$1" P2PMR_PEER_IP "${GUEST_PAIR_IP[$peer]}"
	guest_env "$1" P2PMR_NET_PREFIX 24
	guest_env "$1" P2PMR_SELF_MAC "${GUEST_PAIR_MAC[$2]}"
	guest_env "$1" P2PMR_PEER_MAC "${GUEST_PAIR_MAC[$peer]}"
}

# guest_pair_nic ROLE PORT: the NIC on the pair's network, appended to
# "qemu". The client's QEMU fails at once if nothing listens on PORT.
guest_pair_nic() {
	local how=connect
	[ "$1" = server ] && how=listen
	qemu+=(-netdev "socket,id=pair,$how=127.0.0.1:$2"
	       -device "virtio-net-pci,netdev=pair,mac=${GUEST_PAIR_MAC[$1]}")
}

# guest_pair_free_port: a TCP port nothing listens on now (another program
# may take it before the server's QEMU does: the caller tries again).
guest_pair_free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# guest_pair_listening PORT PID: wait (up to 30 s) until a QEMU listens on
# 127.0.0.1:PORT, which the server's does before its guest boots (another
# program there does not count: the server's QEMU then fails); fails at
# once when PID (the job that runs it) has ended.
guest_pair_listening() {
	local i
	for ((i = 0; i < 300; i++)); do
		[[ $(ss -Hltnp "sport = :$1" 2>/dev/null) == *'"qemu-system'* ]] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# guest_prepare OUT: empty OUT; OUT/ivshmem.bar (the BAR of ivshmem-plain)
# filled with random bytes, since the guest compares what VFIO shows it with
# this file; OUT/suites and OUT/guest.env for guest-init and run-suites.
guest_prepare() {
	local out=$1 var
	rm -rf "$out"
	mkdir -p "$out/results"
	head -c $GUEST_BAR_SIZE /dev/urandom > "$out/ivshmem.bar"
	# Sparse: only the pages the guest writes take space.
	truncate -s "$GUEST_BIG_BAR_SIZE" "$out/ivshmem-big.bar"
	printf '%s\n' "${suites[@]}" > "$out/suites"
	cat > "$out/guest.env" <<-EOF
	export P2PMR_TOP='$TOP'
	export P2PMR_BUILD='$BUILD'
	export P2PMR_SUITES='${suites[*]}'
	export P2PMR_SUITE_TIMEOUT=$suite_timeout
	export P2PMR_IVSHMEM_FILE=/mnt/out/ivshmem.bar
	export P2PMR_IVSHMEM_SIZE=$GUEST_BAR_SIZE
	export P2PMR_BIG_IVSHMEM_SIZE=$GUEST_BIG_BAR_SIZE
	export P2PMR_GUEST_VARIANT='${variant:-}'
	EOF
	# For console2tap.py: what this kernel can report (no KUnit in Debian's).
	echo "${variant:-}" > "$out/variant"
	for var in "${pass_env[@]}"; do
		guest_env "$out" "$var" "${!var}"
	done
	if guest_has_device nvme-dma; then
		head -c $GUEST_NVME_DMA_SIZE /dev/urandom > "$out/nvme-dma.img"
		guest_env "$out" P2PMR_NVME_DMA_FILE /mnt/out/nvme-dma.img
	fi
}

# guest_optional_devices OUT: the QEMU options of the optional devices,
# appended to "qemu" after the others, so that every other device keeps
# its address.
guest_optional_devices() {
	local d
	for d in $(guest_devices); do
		case $d in
		nvme-dma)
			# mdts=10: up to 4 MiB per command (QEMU's default is 512 KiB).
			qemu+=(-device pcie-root-port,id=rp2,bus=pcie.0,chassis=5,slot=5
			       -drive "if=none,id=nvme-dma-disk,format=raw,file=$1/nvme-dma.img"
			       -device nvme,serial=p2pmr-dma,drive=nvme-dma-disk,mdts=10,bus=rp2)
			;;
		edu)
			# dma_mask: the kernel's default mask of a PCI device
			# without a driver is 32 bits, the edu's own 28.
			qemu+=(-device edu,bus=pcie.0,dma_mask=0xffffffff)
			;;
		edu-switch)
			# Below the ivshmem's switch, on a fourth port: peers
			# that reach each other by PCI bus address. A bus
			# address may be above 4 GiB: all 64 bits.
			qemu+=(-device xio3130-downstream,id=sw-dn4,bus=sw-up,chassis=6,slot=4
			       -device edu,bus=sw-dn4,dma_mask=0xffffffffffffffff)
			;;
		esac
	done
}

# guest_qemu OUT [QEMU-ARGS...]: the QEMU command line of the guest whose
# results go to OUT, into the array "qemu"; QEMU-ARGS (the NIC) end it.
guest_qemu() {
	local out=$1 append tcg_thread
	shift
	append="console=ttyS0 loglevel=7 panic=-1 oops=panic"
	append+=" root=hostroot rootfstype=9p ro"
	append+=" rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=loose"
	append+=" init=$HARNESS/guest-init intel_iommu=on iommu=nopt"
	append+=" rcupdate.rcu_cpu_stall_timeout=60"
	# The boot-time check that the timer ticks through the IO-APIC fails
	# when the host leaves the vCPU unscheduled for a few ticks (two guests
	# on two cores, other jobs beside): "Kernel panic - not syncing: timer
	# doesn't work through Interrupt-remapped IO-APIC". Virtual machines
	# commonly skip it.
	append+=" no_timer_check"
	# More parameters for experiments, e.g. kunit.enable=0 to boot past
	# a KUnit case that crashes a kernel under investigation.
	append+=${P2PMR_KERNEL_ARGS:+ $P2PMR_KERNEL_ARGS}
	# The variant's, last: a later intel_iommu= wins over the one above.
	append+=${guest_kernel_args:+ $guest_kernel_args}

	# One host thread for both vCPUs: QEMU 7.2's multi-threaded TCG
	# segfaulted (same instruction each time, about one run in four) while
	# the guest mapped and unmapped a BAR in a tight loop.
	# P2PMR_TCG_THREAD=multi is faster for runs that do not stress device
	# decode.
	tcg_thread=${P2PMR_TCG_THREAD:-single}

	qemu=(qemu-system-x86_64
		-accel "tcg,thread=$tcg_thread" -cpu "${guest_cpu:-EPYC}" -machine q35 -smp 2 -m 2G
		-nodefaults -no-reboot -display none -monitor none
		-pidfile "$out/qemu.pid"
		-chardev "stdio,id=con,signal=off,logfile=$out/console.log" -serial chardev:con
		-device intel-iommu,intremap=on,caching-mode=on
		-kernel "$kernel" ${initrd:+-initrd "$initrd"} -append "$append"
		-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap
		-device virtio-9p-pci,fsdev=root,mount_tag=hostroot
		-fsdev "local,id=out,path=$out,security_model=none"
		-device virtio-9p-pci,fsdev=out,mount_tag=out
		-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1
		-device x3130-upstream,id=sw-up,bus=rp1
		-device xio3130-downstream,id=sw-dn1,bus=sw-up,chassis=2,slot=1
		-device xio3130-downstream,id=sw-dn2,bus=sw-up,chassis=3,slot=2
		-device xio3130-downstream,id=sw-dn3,bus=sw-up,chassis=4,slot=3
		-object "memory-backend-file,id=ivshmem-bar,share=on,mem-path=$out/ivshmem.bar,size=$GUEST_BAR_SIZE"
		-device ivshmem-plain,memdev=ivshmem-bar,bus=sw-dn1
		-blockdev null-co,node-name=nvme-disk,size=$((64 << 20))
		-device nvme,serial=p2pmr-nvme,drive=nvme-disk,cmb_size_mb=16,bus=sw-dn2
		-object "memory-backend-file,id=ivshmem-big,share=on,mem-path=$out/ivshmem-big.bar,size=$GUEST_BIG_BAR_SIZE"
		-device ivshmem-plain,memdev=ivshmem-big,bus=sw-dn3
		-device pci-testdev,bus=pcie.0)
	guest_optional_devices "$out"
	qemu+=("$@")
}

# Progress: the guest's "p2pmr:" lines and the first line of any kernel
# report; everything with --console. The full log is OUT/console.log.
# With an argument, each line starts with it (which guest of a pair).
# Line-buffered all along (sed -u, not tr), so that two guests' lines
# show when they come.
guest_progress() {
	local prefix=${1:+$1: }
	if [ "$console" = 1 ]; then
		sed -u "s/\r//g; s/^/$prefix/"
	else
		sed -u 's/\r//g' | grep --line-buffered -E \
			'^p2pmr|Kernel panic|WARNING:|BUG:|KASAN|Oops|unreferenced object' |
			sed -u "s/^/$prefix/" || true
	fi
}

# guest_boot OUT NAME [LABEL]: boot the guest with the command in "qemu"
# under the time limit; progress lines start with LABEL. QEMU's exit status
# (124: killed by the time limit) goes to qemu_rc and OUT/qemu-rc.
guest_boot() {
	local out=$1 name=$2 label=${3:-} t0=$SECONDS rc
	local say=${label:+$label: }

	echo "$name: ${say}booting $(basename "$kernel") with suites: ${suites[*]}"
	rm -rf "$out/results" "$out/exit-code" "$out/kmemleak.txt"
	mkdir -p "$out/results"
	set +e
	timeout --foreground -k 10 "$timeout" "${qemu[@]}" </dev/null 2>"$out/qemu.err" |
		guest_progress "$label"
	rc=${PIPESTATUS[0]}
	set -e
	# QEMU is gone (it removes the file itself unless killed): guest_stop
	# must not find its pid, which another process may have by now.
	rm -f "$out/qemu.pid"
	echo "$name: ${say}guest ran for $((SECONDS - t0)) s (qemu exit status $rc)"
	# The EPYC model asks for CPUID bits TCG lacks; QEMU says so at start.
	grep -v "TCG doesn't support requested feature" "$out/qemu.err" |
		sed "s/^/$name: ${say}qemu: /" >&2 || true
	echo "$rc" > "$out/qemu-rc"
	qemu_rc=$rc
}

# guest_crashed RC: QEMU died by a signal of its own (not the time limit's).
# QEMU 7.2 under TCG has been seen to segfault (rarely) while a guest
# toggled device decode and reset in a loop: the emulator failing, not the
# guest, so the callers keep that console and run the guest once more.
guest_crashed() {
	[ "$1" -gt 128 ] && [ "$1" != 124 ] && [ "$1" != 137 ]
}

# guest_keep_crash OUT NAME RC: set the crashed run's console aside.
guest_keep_crash() {
	mv "$1/console.log" "$1/console-qemu-crashed.log"
	echo "$3" > "$1/qemu-crashed"
	echo "$2: QEMU itself died (signal $(($3 - 128))); its console is in" \
	     "$1/console-qemu-crashed.log."
}

# guest_stop OUT: stop the QEMU of the guest in OUT if it still runs (the
# caller was interrupted, or its other guest could not start).
guest_stop() {
	local pid
	pid=$(cat "$1/qemu.pid" 2>/dev/null) || return 0
	if grep -q qemu-system "/proc/$pid/cmdline" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
	fi
}

# guest_finish OUT RC: record how QEMU ended; console2tap.py adds kunit.tap
# and guest-kernel.tap to OUT/results.
guest_finish() {
	echo "$2" > "$1/qemu-exit"
	if [ "$2" = 124 ]; then
		echo "guest killed after ${timeout} s" > "$1/timed-out"
	fi
	/usr/bin/python3 "$HARNESS/console2tap.py" "$1"
}

# guest_collect OUT NAME DEST: copy the TAP files of the guest in OUT to
# DEST as NAME-<file>.tap, each test name starting with "NAME: ", with the
# suites' exit statuses, so that the results of several guests can be
# counted together and each failure names its guest.
guest_collect() {
	local out=$1 name=$2 dest=$3 tap file
	mkdir -p "$dest"
	for tap in "$out/results/"*.tap; do
		[ -e "$tap" ] || continue
		file=$(basename "$tap" .tap)
		sed -E "s/^(ok|not ok)([[:space:]]+[0-9]+)([[:space:]]*-)?[[:space:]]*/\1\2 - $name: /" \
			"$tap" > "$dest/$name-$file.tap"
		if [ -f "${tap%.tap}.exit" ]; then
			cp "${tap%.tap}.exit" "$dest/$name-$file.exit"
		fi
	done
}
