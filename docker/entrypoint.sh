#!/bin/sh
# orchesity-entrypoint - the image's entry point.  It only prepares the
# command line and then exec's, so the gateway's master becomes PID 1 of the
# container (it reaps orphans and drains on SIGTERM by itself).
#
#   no arguments, or options only   orchesity [-c CONFIG] [OPTIONS]
#   anything else                    that command (e.g. /bin/bash)
#
# CONFIG is $ORCHESITY_CONFIG (default /etc/orchesity/orchesity.conf) when
# that file exists (a mounted file or a Kubernetes ConfigMap); without it the
# embedded defaults and the environment apply.
#
# The error log always goes to standard error (docker logs).  The access log
# goes to $ORCHESITY_LOG_DIR/access.log (default /app/logs) when that
# directory exists (it is mounted) and is writable, else to standard output;
# ORCHESITY_ACCESS_LOG and ORCHESITY_ERROR_LOG, when set, win.
set -e

conf="${ORCHESITY_CONFIG:-/etc/orchesity/orchesity.conf}"
logdir="${ORCHESITY_LOG_DIR:-/app/logs}"

if [ -z "${ORCHESITY_ACCESS_LOG:-}" ] && [ -d "$logdir" ]; then
    if [ -w "$logdir" ]; then
        export ORCHESITY_ACCESS_LOG="$logdir/access.log"
    else
        echo "orchesity-entrypoint: $logdir is not writable by uid $(id -u); access log on stdout" >&2
    fi
fi

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    if [ -f "$conf" ]; then
        set -- -c "$conf" "$@"
    fi
    set -- orchesity "$@"
fi
exec "$@"
