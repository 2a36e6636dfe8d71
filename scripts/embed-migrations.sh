#!/bin/sh
# Writes, on standard output, the C table of the SQL migrations in the
# directory given (files NNN_name.sql, applied in order of NNN), so the
# binary carries its schema and needs no file at run time.
set -eu
dir=$1
echo '/* Generated from etc/migrations by scripts/embed-migrations.sh: do not edit. */'
echo '#include "common/migrations.h"'
echo
echo 'const orc_migration_t orc_migrations[] = {'
for f in "$dir"/[0-9][0-9][0-9]_*.sql; do
    base=$(basename "$f" .sql)
    case $base in *[!a-z0-9_]*) echo "bad migration name: $base" >&2; exit 1 ;; esac
    version=$(echo "$base" | sed 's/^0*\([0-9]\)/\1/; s/_.*//')
    printf '    {%s, "%s",\n' "$version" "$base"
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/     "/' -e 's/$/\\n"/' "$f"
    echo '    },'
done
echo '};'
echo 'const int orc_migrations_count = (int)(sizeof(orc_migrations) / sizeof(orc_migrations[0]));'
