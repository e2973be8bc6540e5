#!/bin/sh
# README command 1: install what is needed, build, and boot the bundled test guest on its console.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh
echo "demo: ./build/kite --kernel build/guest/kite-guest.bzImage --cmdline 'kite.test=hello' --memory 64"
exec ./build/kite --kernel build/guest/kite-guest.bzImage --cmdline 'kite.test=hello' --memory 64
