#!/bin/sh
# dev-run.sh - development loop of docker-compose.dev.yml: build the mounted
# source (/src) out of tree in /build, run the gateway, and rebuild and
# restart it whenever a source file changes (polled every 2 s).  A build
# that fails keeps the running gateway and prints the compiler's errors.
set -u
src=${ORC_DEV_SRC:-/src}
build=${ORC_DEV_BUILD:-/build}
gw=""

stamp() {
    find "$src/common" "$src/master" "$src/worker" "$src/etc" "$src/configure.ac" "$src/Makefile.am" \
        -type f -newer "$build/.stamp" 2>/dev/null | head -n1
}

rebuild() {
    (cd "$src" && { [ -x configure ] || ./autogen.sh; }) &&
        (cd "$build" && { [ -f Makefile ] || "$src/configure" -q --enable-debug; } && make -j"$(nproc)" -s orchesity)
}

restart() {
    if [ -n "$gw" ]; then
        kill -TERM "$gw" 2>/dev/null
        wait "$gw" 2>/dev/null
    fi
    "$build/orchesity" "$@" &
    gw=$!
}

mkdir -p "$build"
touch "$build/.stamp"
trap 'kill -TERM "$gw" 2>/dev/null; wait "$gw" 2>/dev/null; exit 0' TERM INT
rebuild || exit 1
restart "$@"
while :; do
    sleep 2
    if [ -n "$(stamp)" ]; then
        touch "$build/.stamp"
        echo "dev-run: source changed, rebuilding" >&2
        rebuild && restart "$@"
    fi
done
