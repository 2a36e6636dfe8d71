# db-common.sh - shared by scripts/backup-db and scripts/restore-db: how to
# reach PostgreSQL, either through docker-compose (the "postgres" service of
# the compose files) or directly from DATABASE_URL / DATABASE_URL_FILE.
#
# Direct mode turns the URL into libpq's PG* environment variables, so the
# password never appears on a command line (ps) and a
# "postgresql+asyncpg://" URL is accepted as it is.

orc_db_die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# %XX escapes of a URL part.
orc_db_unescape() {
    local s="$1"
    printf '%b' "${s//%/\\x}"
}

# Sets PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE (and PGSSLMODE) from $1.
orc_db_from_url() {
    local url="$1" rest auth hostport query
    [[ "$url" =~ ^postgres(ql)?(\+[a-z0-9]+)?:// ]] || orc_db_die "not a postgresql:// URL"
    rest="${url#*://}"
    query=""
    [[ "$rest" == *\?* ]] && query="${rest#*\?}" && rest="${rest%%\?*}"
    export PGDATABASE=""
    [[ "$rest" == */* ]] && PGDATABASE="$(orc_db_unescape "${rest#*/}")" && rest="${rest%%/*}"
    auth=""
    [[ "$rest" == *@* ]] && auth="${rest%@*}" && rest="${rest##*@}"
    hostport="$rest"
    export PGUSER="" PGPASSWORD=""
    if [ -n "$auth" ]; then
        PGUSER="$(orc_db_unescape "${auth%%:*}")"
        [[ "$auth" == *:* ]] && PGPASSWORD="$(orc_db_unescape "${auth#*:}")"
    fi
    if [[ "$hostport" == \[*\]* ]]; then
        export PGHOST="${hostport%%]*}" && PGHOST="${PGHOST#[}"
        hostport="${hostport#*]}"
        export PGPORT="${hostport#:}"
    else
        export PGHOST="${hostport%%:*}"
        export PGPORT=""
        [[ "$hostport" == *:* ]] && PGPORT="${hostport##*:}"
    fi
    [ -n "$PGPORT" ] || PGPORT=5432
    [ -n "$PGHOST" ] || PGHOST=localhost
    [ -n "$PGDATABASE" ] || PGDATABASE="$PGUSER"
    [[ "$query" =~ (^|&)sslmode=([a-z-]+) ]] && export PGSSLMODE="${BASH_REMATCH[2]}"
    [ -n "$PGPASSWORD" ] || unset PGPASSWORD
    return 0
}

# Chooses the mode: $ORC_DB_MODE = url | docker, else url when a
# DATABASE_URL(_FILE) is set, else docker.  Sets ORC_DB_MODE and ORC_DB_NAME.
orc_db_setup() {
    local url="${DATABASE_URL:-}"
    if [ -n "${DATABASE_URL_FILE:-}" ]; then
        [ -r "$DATABASE_URL_FILE" ] || orc_db_die "cannot read DATABASE_URL_FILE $DATABASE_URL_FILE"
        url="$(head -n1 "$DATABASE_URL_FILE")"
    fi
    if [ -z "${ORC_DB_MODE:-}" ]; then
        ORC_DB_MODE=docker
        [ -n "$url" ] && ORC_DB_MODE=url
    fi
    case "$ORC_DB_MODE" in
    url)
        [ -n "$url" ] || orc_db_die "--url needs DATABASE_URL or DATABASE_URL_FILE"
        orc_db_from_url "$url"
        ORC_DB_NAME="$PGDATABASE"
        ;;
    docker)
        ORC_DB_NAME="${POSTGRES_DB:-orchesity_db}"
        ORC_DB_USER="${POSTGRES_USER:-orchesity_user}"
        if command -v docker-compose >/dev/null; then
            ORC_COMPOSE=(docker-compose)
        elif docker compose version >/dev/null 2>&1; then
            ORC_COMPOSE=(docker compose)
        else
            orc_db_die "neither docker-compose nor 'docker compose' found (or set DATABASE_URL)"
        fi
        ;;
    *) orc_db_die "unknown mode $ORC_DB_MODE" ;;
    esac
}

# Runs a PostgreSQL client program ($1: pg_dump or psql) with arguments.
orc_db_run() {
    local prog="$1"
    shift
    if [ "$ORC_DB_MODE" = docker ]; then
        "${ORC_COMPOSE[@]}" exec -T postgres "$prog" -U "$ORC_DB_USER" -d "$ORC_DB_NAME" "$@"
    else
        "$prog" "$@"
    fi
}
