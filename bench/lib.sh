# SPDX-License-Identifier: MIT
# Shared by bench/*/run.sh (sourced from sh). bench_build AREA BUILD_ARG FILE...: sets $build to the
# absolute build directory (BUILD_ARG, or build/ of the tree when empty) and exits 1 with one line
# if one of the FILEs (paths relative to it) is missing.
bench_build() {
	_area=$1 _dir=${2:-$(dirname "$0")/../../build}
	shift 2
	build="$(cd "$_dir" && pwd)" || { echo "bench/$_area: $_dir: no such build directory" >&2; exit 1; }
	for _f in "$@"; do
		[ -e "$build/$_f" ] || { echo "bench/$_area: $build/$_f is missing: build first (ninja -C $build)" >&2; exit 1; }
	done
}
