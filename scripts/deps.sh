# Debian packages Orchesity needs, and a function that installs the missing
# ones.  Sourced by scripts/run and scripts/test.

ORC_BUILD_PKGS="build-essential autoconf automake pkg-config libevent-dev libcurl4-openssl-dev
 libhiredis-dev libpq-dev libjson-c-dev libconfig-dev libssl-dev uuid-dev libsystemd-dev curl"
ORC_TEST_PKGS="libcriterion-dev python3 util-linux iproute2 clang-format postgresql redis-server
 wrk nginx-light nodejs docker-compose yamllint python3-yaml"

orc_install_packages() {
    missing=""
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $pkg"
    done
    [ -z "$missing" ] && return 0
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing Debian packages:$missing"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
}

# Builds into $1 (a directory under the source tree) with configure flags $2...
orc_build() {
    dir="$1"
    shift
    [ -x configure ] || ./autogen.sh
    if [ -f config.status ]; then
        echo "the source tree itself is configured; run 'make distclean' first" >&2
        return 1
    fi
    mkdir -p "$dir"
    (cd "$dir" && { [ -f Makefile ] || ../configure -q "$@"; } && make -j"$(nproc)" -s)
}

# Installs the pinned npm clients of the SDK conformance tests (tests/sdk)
# unless node_modules already matches package-lock.json (npm's own copy of it
# in node_modules is not older).
orc_sdk_install() {
    dir=tests/sdk
    [ -f "$dir/node_modules/.package-lock.json" ] &&
        [ ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ] && return 0
    command -v npm >/dev/null || orc_install_packages npm || return 1
    (cd "$dir" && npm ci --no-audit --no-fund)
}
