# shellcheck shell=bash
# Paths and helpers shared by the kernel scripts. Source it; do not run it.
#
# Layout under the build directory (P2PMR_BUILD, default <repo>/build):
#   kernel/src          git tree: commit "base" = pristine Debian source,
#                       then one commit per patch of kernel/series
#   kernel/obj-<flavor> out-of-tree kbuild output (test = debug stack on,
#                       lean = no debug stack, for benchmarks)
#   kernel/headers      uAPI headers from `make headers_install`
#   kernel/state        what is applied and built (hashes), to skip work

P2PMR_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
P2PMR_BUILD=${P2PMR_BUILD:-$P2PMR_TOP/build}
KDIR=$P2PMR_TOP/kernel
KBUILD_ROOT=$P2PMR_BUILD/kernel
KSRC=$KBUILD_ROOT/src
KSTATE=$KBUILD_ROOT/state
KHEADERS=$KBUILD_ROOT/headers
# shellcheck source=../source.env
. "$KDIR/source.env"

# One compiler command line for every build: kbuild records it, and a
# change of CC would rebuild everything.
KCC="ccache gcc"
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/p2pmr/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-4G}
# Paths below the build directory are hashed relative to it, so that a
# fresh clone in another folder (CI) hits the cache of an earlier one.
export CCACHE_BASEDIR=$KBUILD_ROOT
export CCACHE_NOHASHDIR=1
export CCACHE_DEPEND=1
export CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime
# Reproducible kernel identity: no rebuilds caused by host name or date.
export KBUILD_BUILD_USER=p2pmr KBUILD_BUILD_HOST=p2pmr
export KBUILD_BUILD_TIMESTAMP="p2pmr test kernel"
# The version of the Debian packages (kernel/scripts/build --deb): Debian's,
# then p2pmr's count of changes to kernel/, so that a newer series sorts
# after an older one (6.12.117-1~deb12u1+p2pmr.42). bindeb-pkg builds with
# its revision as the build number (uname -v "#1~deb12u1+p2pmr.42"); every
# build uses it, or packaging would relink an image just built.
P2PMR_DEB_VERSION="$LINUX_SOURCE_VERSION+p2pmr.$(git -C "$P2PMR_TOP" rev-list --count HEAD -- kernel/ 2>/dev/null || echo 0)"
export KBUILD_BUILD_VERSION=${P2PMR_DEB_VERSION##*-}

JOBS=${JOBS:-$(nproc)}

die() {
	echo "kernel: error: $*" >&2
	exit 1
}

note() {
	echo "kernel: $*" >&2
}

# Patches of kernel/series, in order, as absolute paths.
series_patches() {
	local line
	while read -r line; do
		line=${line%%#*}
		line=${line//[[:space:]]/}
		[ -n "$line" ] && echo "$KDIR/patches/$line"
	done < "$KDIR/series"
}

# Fragments merged for a flavour, in order.
flavor_fragments() {
	case $1 in
	test) echo "$KDIR/configs/base.config $KDIR/configs/debug.config $KDIR/configs/test.config" ;;
	lean) echo "$KDIR/configs/base.config $KDIR/configs/test.config" ;;
	mlx5) echo "$KDIR/configs/base.config $KDIR/configs/test.config $KDIR/configs/mlx5-compile.config" ;;
	# Over a configuration the user names (kernel/scripts/build --config).
	custom) echo "$KDIR/configs/p2pmr.config" ;;
	*) die "unknown kernel flavour '$1' (test, lean or mlx5)" ;;
	esac
}

kobj() {
	echo "$KBUILD_ROOT/obj-$1"
}

kmake() {
	local obj=$1
	shift
	# LOCALVERSION set, if empty: the release is the version and
	# CONFIG_LOCALVERSION, without a "+" for a tree git sees as modified.
	make -C "$KSRC" O="$obj" CC="$KCC" HOSTCC=gcc LOCALVERSION= -j"$JOBS" "$@"
}

hash_files() {
	cat "$@" | sha256sum | cut -d' ' -f1
}
