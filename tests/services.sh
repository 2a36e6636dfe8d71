# Starts PostgreSQL and Redis for the test run on free loopback ports, in
# temporary directories, and stops them by pid.  Sourced by scripts/test.
# Exports ORC_TEST_DATABASE_URL and ORC_TEST_REDIS_URL.

orc_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

orc_as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

orc_postgres_start() {
    bindir=$(pg_config --bindir)
    ORC_PG_DIR=$(mktemp -d /tmp/orc-pg.XXXXXX)
    chmod 755 "$ORC_PG_DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres "$ORC_PG_DIR"
    ORC_PG_PORT=$(orc_free_port)
    orc_as_postgres "$bindir/initdb" -D "$ORC_PG_DIR/data" -A trust -U postgres >/dev/null || return 1
    orc_as_postgres "$bindir/pg_ctl" -D "$ORC_PG_DIR/data" -l "$ORC_PG_DIR/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $ORC_PG_PORT -k $ORC_PG_DIR -c fsync=off" start >/dev/null || return 1
    ORC_PG_PID=$(head -n1 "$ORC_PG_DIR/data/postmaster.pid")
    psql -q -h 127.0.0.1 -p "$ORC_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE USER orchesity_user PASSWORD 'orchesity_test'" \
        -c "CREATE DATABASE orchesity_db OWNER orchesity_user" >/dev/null || return 1
    export ORC_TEST_DATABASE_URL="postgresql://orchesity_user:orchesity_test@127.0.0.1:$ORC_PG_PORT/orchesity_db"
    echo "postgresql on 127.0.0.1:$ORC_PG_PORT (pid $ORC_PG_PID)"
}

orc_redis_start() {
    ORC_REDIS_PORT=$(orc_free_port)
    ORC_REDIS_DIR=$(mktemp -d /tmp/orc-redis.XXXXXX)
    redis-server --bind 127.0.0.1 --port "$ORC_REDIS_PORT" --save '' --appendonly no \
        --dir "$ORC_REDIS_DIR" --logfile "$ORC_REDIS_DIR/redis.log" &
    ORC_REDIS_PID=$!
    for _ in $(seq 50); do
        redis-cli -p "$ORC_REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
        sleep 0.1
    done
    redis-cli -p "$ORC_REDIS_PORT" ping | grep -q PONG || return 1
    export ORC_TEST_REDIS_URL="redis://127.0.0.1:$ORC_REDIS_PORT/0"
    echo "redis on 127.0.0.1:$ORC_REDIS_PORT (pid $ORC_REDIS_PID)"
}

orc_services_start() {
    orc_postgres_start && orc_redis_start
}

orc_services_stop() {
    if [ -n "${ORC_REDIS_PID:-}" ]; then
        kill "$ORC_REDIS_PID" 2>/dev/null
        wait "$ORC_REDIS_PID" 2>/dev/null
        rm -rf "$ORC_REDIS_DIR"
    fi
    if [ -n "${ORC_PG_PID:-}" ]; then
        kill -INT "$ORC_PG_PID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$ORC_PG_PID" 2>/dev/null || break; sleep 0.1; done
        rm -rf "$ORC_PG_DIR"
    fi
}
