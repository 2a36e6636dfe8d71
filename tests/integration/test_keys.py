"""Client keys against the real binary and a real PostgreSQL: `orchesity keys`
(create, list, show, update, revoke, rotate, team-budget) and the admin API
(/api/admin/keys, /api/admin/teams, /api/admin/spend).

What is checked: a printed key is well formed and its SHA-256 is the stored
hash; the key itself is nowhere in the database (pg_dump), in `keys list`, in
the gateway's logs; every setting is stored as given and updated_at moves on
every change; bad input is refused with a message naming the field and
nothing is written; unknown or malformed ids are 404; the admin rules of
today (master key as Bearer, or loopback without one); 503 without a
database; spend reports equal the sums of rows inserted with psql.

Read-write tests use a fresh database on the suite's PostgreSQL
(ORC_TEST_DATABASE_URL); the one that stops PostgreSQL runs its own."""
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import time
import urllib.parse

import harness
from harness import Gateway, check, wait_until
from pgserver import USER, PgServer
from test_dbapi import SuiteDatabase, error_format, migrations, start

KEY_RE = re.compile(r"^sk-orc-[0-9A-Za-z]{43}$")
ID_RE = re.compile(r"^key_[0-9a-f]{16}$")
RECORD_FIELDS = {"id", "prefix", "name", "team", "models", "providers", "scopes", "rpm", "tpm", "max_parallel",
                 "budget_usd", "budget_period", "expires_at", "revoked_at", "status", "metadata", "created_at",
                 "updated_at"}
JSON_HEADERS = {"Content-Type": "application/json"}


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


# ---- the command line ------------------------------------------------------------------

def keys(url, *args, expect=0):
    """Runs `orchesity keys ARGS` on the database URL; returns (stdout, stderr)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    if url is not None:
        env["DATABASE_URL"] = url
    r = subprocess.run([harness.BIN, "keys"] + list(args), env=env, capture_output=True, text=True, timeout=30)
    check(r.returncode == expect, "orchesity keys %s: exit %d, expected %d:\n%s%s"
          % (" ".join(args), r.returncode, expect, r.stdout, r.stderr))
    check("ERROR: " not in r.stderr and "runtime error" not in r.stderr, "sanitizer report:\n%s" % r.stderr)
    return r.stdout, r.stderr


def fields_of(text):
    """The "field  value" lines of a human record."""
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        out[name] = value.strip()
    return out


def row(pg, key_id, columns):
    rows = pg.sql("SELECT %s FROM api_keys WHERE id = '%s'" % (columns, key_id))
    check(len(rows) == 1, "no row for %s" % key_id)
    return rows[0]


def dump(pg):
    """Every byte of the database as pg_dump writes it."""
    r = subprocess.run(["pg_dump", "-h", "127.0.0.1", "-p", str(pg.port), "-U", USER, "-d", pg.name],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "pg_dump: %s" % r.stderr)
    return r.stdout


def updated_at(pg, key_id):
    return float(row(pg, key_id, "extract(epoch FROM updated_at)")[0])


def test_cli_create_prints_the_key_once_and_stores_its_hash():
    pg = SuiteDatabase().start()
    out, err = keys(pg.url, "create", "--name", "ci pipeline", "--team", "platform", "--models", "gpt-4o*,claude-*",
                    "--providers", "openai,anthropic", "--scopes", "history,llm", "--rpm", "60", "--tpm", "100000",
                    "--max-parallel", "4", "--budget", "12.5", "--budget-period", "day", "--expires", "30d",
                    "--metadata", '{"owner": "ci", "ticket": 42}')
    f = fields_of(out)
    key, key_id = f.get("key", ""), f.get("id", "")
    check(KEY_RE.match(key) and ID_RE.match(key_id), "key %r, id %r in:\n%s" % (key, key_id, out))
    check(out.count(key) == 1, "the key is printed once")
    check("shown only this once" in err, "the warning on stderr: %r" % err)
    check(f["prefix"] == key[:12] + "..." and f["name"] == "ci pipeline" and f["team"] == "platform"
          and f["scopes"] == "llm,history" and f["status"] == "active", "record %r" % f)
    check(pg.sql("SELECT max(version) FROM schema_migrations") == [[str(migrations()[-1])]],
          "the schema was applied first")
    r = row(pg, key_id, "key_hash, key_prefix, name, team, models, providers, scopes, rpm, tpm, max_parallel,"
                        " budget_usd, budget_period, metadata,"
                        " round(extract(epoch FROM expires_at - now()) / 3600), revoked_at IS NULL")
    check(r[0] == sha256(key), "the stored hash is the SHA-256 of the printed key")
    check(r[1:] == [key[:12], "ci pipeline", "platform", "{gpt-4o*,claude-*}", "{openai,anthropic}",
                    "{llm,history}", "60", "100000", "4", "12.5", "day", '{"owner": "ci", "ticket": 42}', "720", "t"],
          "stored %r" % r)
    check(key not in dump(pg), "the key itself is in the database")

    out, _ = keys(pg.url, "create", "--name", "scripted", "--json")
    doc = json.loads(out)
    check(KEY_RE.match(doc["key"]) and ID_RE.match(doc["id"]), "JSON %r" % doc)
    check(set(doc) == RECORD_FIELDS | {"key"}, "fields %r" % sorted(doc))
    check((doc["models"], doc["providers"], doc["scopes"], doc["rpm"], doc["budget_usd"], doc["budget_period"],
           doc["expires_at"], doc["metadata"], doc["team"]) == ([], [], ["llm"], None, None, "month", None, {}, None),
          "defaults %r" % doc)
    check(row(pg, doc["id"], "key_hash")[0] == sha256(doc["key"]), "hash of the JSON key")
    check(doc["key"] not in dump(pg), "the second key is in the database")


def test_cli_list_show_update_revoke_rotate():
    pg = SuiteDatabase().start()
    a = json.loads(keys(pg.url, "create", "--name", "alpha", "--team", "red", "--rpm", "10", "--json")[0])
    b = json.loads(keys(pg.url, "create", "--name", "beta", "--budget", "3", "--json")[0])
    out, _ = keys(pg.url, "list")
    check(out.splitlines()[0].split() == ["ID", "PREFIX", "NAME", "TEAM", "SCOPES", "LIMITS", "STATUS", "CREATED"],
          "header %r" % out.splitlines()[0])
    for k in (a, b):
        check(k["id"] in out and k["prefix"] + "..." in out, "%s missing from:\n%s" % (k["id"], out))
    check("rpm 10" in out and "$3/month" in out and out.count("active") == 2, "limits and status:\n%s" % out)
    listed = json.loads(keys(pg.url, "list", "--json")[0])
    check([k["id"] for k in listed] == [b["id"], a["id"]], "newest first: %r" % listed)
    check(all(set(k) == RECORD_FIELDS | {"usage"} for k in listed), "list fields %r" % sorted(listed[0]))
    red = json.loads(keys(pg.url, "list", "--team", "red", "--json")[0])
    check([k["id"] for k in red] == [a["id"]], "team filter %r" % red)
    check(fields_of(keys(pg.url, "show", a["id"])[0])["name"] == "alpha", "show")

    before = updated_at(pg, a["id"])
    out, _ = keys(pg.url, "update", a["id"], "--rpm", "", "--team", "ops", "--budget", "5", "--budget-period",
                  "total", "--scopes", "llm,metrics", "--json")
    doc = json.loads(out)
    check((doc["rpm"], doc["team"], doc["budget_usd"], doc["budget_period"], doc["scopes"], doc["name"])
          == (None, "ops", 5, "total", ["llm", "metrics"], "alpha"), "updated %r" % doc)
    check(row(pg, a["id"], "rpm IS NULL, team, budget_usd, key_hash")[:3] == ["t", "ops", "5"], "stored update")
    check(updated_at(pg, a["id"]) > before, "updated_at moved on update")

    before = updated_at(pg, b["id"])
    out, err = keys(pg.url, "rotate", b["id"])
    new = fields_of(out)["key"]
    check(KEY_RE.match(new) and new != b["key"] and "shown only this once" in err, "rotated key %r" % new)
    r = row(pg, b["id"], "key_hash, key_prefix, name, budget_usd")
    check(r == [sha256(new), new[:12], "beta", "3"], "after rotation %r" % r)
    check(updated_at(pg, b["id"]) > before, "updated_at moved on rotation")

    before = updated_at(pg, b["id"])
    out, _ = keys(pg.url, "revoke", b["id"])
    check(fields_of(out)["status"] == "revoked", "revoke:\n%s" % out)
    revoked_at = row(pg, b["id"], "revoked_at")[0]
    check(updated_at(pg, b["id"]) > before, "updated_at moved on revocation")
    keys(pg.url, "revoke", b["id"])
    check(row(pg, b["id"], "revoked_at")[0] == revoked_at, "a second revocation keeps the first time")
    _, err = keys(pg.url, "rotate", b["id"], expect=1)
    check("is revoked" in err, "rotate a revoked key: %r" % err)

    out, _ = keys(pg.url, "list")
    check(b["id"] not in out and a["id"] in out, "revoked keys are hidden:\n%s" % out)
    out, _ = keys(pg.url, "list", "--all")
    check(b["id"] in out and "revoked" in out, "--all shows revoked keys:\n%s" % out)
    pg.sql("UPDATE api_keys SET expires_at = now() - interval '1 hour' WHERE id = '%s'" % a["id"])
    check(" expired " in keys(pg.url, "list")[0], "an expired key says so")
    listed = keys(pg.url, "list", "--all")[0] + keys(pg.url, "list", "--all", "--json")[0]
    for secret in (a["key"], b["key"], new, sha256(a["key"]), sha256(new)):
        check(secret not in listed, "a key or hash in `keys list`")
    check(a["key"] not in dump(pg) and new not in dump(pg), "a key in the database")

    for args, says in [(("revoke", "key_0000000000000000"), "no such key"),
                       (("rotate", "key_0000000000000000"), "no such key"),
                       (("show", "key_0000000000000000"), "no such key"),
                       (("update", "key_0000000000000000", "--rpm", "5"), "no such key"),
                       (("revoke", "key_XYZ"), "not a key id"), (("revoke",), "ID is missing"),
                       (("revoke", a["id"], "extra"), "unexpected argument")]:
        _, err = keys(pg.url, *args, expect=1)
        check(says in err, "%r: %r" % (args, err))


def test_cli_team_budget():
    pg = SuiteDatabase().start()
    out, _ = keys(pg.url, "team-budget", "platform", "--budget", "100")
    check("team platform: budget $100/month" in out, "output %r" % out)
    check(pg.sql("SELECT budget_usd, budget_period FROM api_teams WHERE team = 'platform'") == [["100", "month"]],
          "stored")
    before = pg.sql("SELECT extract(epoch FROM updated_at) FROM api_teams")[0][0]
    doc = json.loads(keys(pg.url, "team-budget", "platform", "--budget", "", "--budget-period", "day", "--json")[0])
    check(doc["budget_usd"] is None and doc["budget_period"] == "day" and doc["remaining_usd"] is None, "%r" % doc)
    check(pg.sql("SELECT budget_usd IS NULL, budget_period, extract(epoch FROM updated_at) > %s FROM api_teams"
                 % before) == [["t", "day", "t"]], "cleared, and updated_at moved")
    for args, says in [(("team-budget", "platform"), "--budget is required"),
                       (("team-budget", "platform", "--budget", "-1"), "--budget must be a number"),
                       (("team-budget", "platform", "--budget", "1", "--budget-period", "week"), "day, month or total"),
                       (("team-budget", 'a"b', "--budget", "1"), "TEAM must be"),
                       (("team-budget", "platform", "--budget", "1", "--rpm", "3"), "not an option")]:
        _, err = keys(pg.url, *args, expect=1)
        check(says in err, "%r: %r" % (args, err))


def test_cli_refuses_bad_settings_before_connecting():
    pg = SuiteDatabase().start()
    cases = [(("--rpm", "5"), "--name is required"), (("--name", ""), "--name must be 1 to 128"),
             (("--name", "x" * 129), "--name must be 1 to 128"), (("--name", 'a"b'), "without quotes"),
             (("--name", "k", "--team", "t\\x"), "--team must be"), (("--name", "k", "--rpm", "0"), "--rpm must be"),
             (("--name", "k", "--tpm", "2147483648"), "--tpm must be an integer from 1 to 2147483647"),
             (("--name", "k", "--max-parallel", "1.5"), "--max-parallel must be"),
             (("--name", "k", "--budget", "1000000000.5"), "--budget must be a number of US dollars from 0"),
             (("--name", "k", "--budget", "abc"), "--budget must be"),
             (("--name", "k", "--budget-period", "year"), "--budget-period must be day, month or total"),
             (("--name", "k", "--models", "gpt 4o"), "--models: pattern 1 is not valid"),
             (("--name", "k", "--providers", ",".join(["p"] * 65)), "--providers: at most 64 patterns"),
             (("--name", "k", "--models", "m" * 129), "--models: pattern 1"),
             (("--name", "k", "--scopes", "llm,root"), "--scopes: item 2 is not one of"),
             (("--name", "k", "--scopes", ""), "--scopes must name at least one"),
             (("--name", "k", "--expires", "2001-01-01"), "--expires must be in the future"),
             (("--name", "k", "--expires", "soon"), "--expires must be a time"),
             (("--name", "k", "--expires", "36501d"), "at most 36500 days"),
             (("--name", "k", "--metadata", "[1]"), "--metadata must be a JSON object"),
             (("--name", "k", "--metadata", '{"a": "%s"}' % ("x" * 16400)), "at most 16384 bytes"),
             (("--name", "k", "--bogus", "1"), "unknown option"), (("--name", "k", "--all"), "not an option"),
             (("--name", "k", "--name", "j"), "given twice"), (("--name",), "missing value")]
    for args, says in cases:
        _, err = keys(pg.url, "create", *args, expect=1)
        check(says in err, "create %r: %r" % (args, err))
    check(pg.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'api_keys'") == [["0"]],
          "a refused command connected and migrated")
    # Settings are checked first: a database that does not answer is not the reason given.
    down = pg.url.replace(":%d/" % pg.port, ":%d/" % harness.free_port())
    _, err = keys(down, "create", "--name", "k", "--rpm", "0", expect=1)
    check("--rpm must be" in err, "checked before connecting: %r" % err)
    _, err = keys(down, "list", expect=1)
    check("cannot connect to the database" in err and "orchesity_test" not in err, "no password: %r" % err)
    _, err = keys(None, "list", expect=1)
    check("no database configured" in err, "without DATABASE_URL: %r" % err)
    _, err = keys(pg.url, "frobnicate", expect=1)
    check("unknown command" in err, "unknown command: %r" % err)
    out, _ = keys(pg.url, "--help")
    for word in ("create", "list", "show", "update", "revoke", "rotate", "team-budget", "--max-parallel",
                 "--budget-period", "--expires", "--metadata", "--json", "--all"):
        check(word in out, "--help lacks %s" % word)


# ---- the admin API ---------------------------------------------------------------------

def api(gw, method, path, body=None, headers=None, expect=200):
    h = dict(JSON_HEADERS)
    h.update(headers or {})
    r = gw.request(method, path, body=None if body is None else json.dumps(body), headers=h)
    check(r.status == expect, "%s %s: %d, expected %d: %r" % (method, path, r.status, expect, r.body[:300]))
    return r.json() if r.body else None


def test_api_key_life_cycle():
    gw, pg = start(mock=False, config={"log": {"level": "debug"}})
    doc = api(gw, "POST", "/api/admin/keys", {"name": "svc", "team": "red", "models": ["gpt-4o*"],
                                              "providers": ["openai"], "scopes": ["llm", "history"], "rpm": 60,
                                              "tpm": None, "budget_usd": 2.5, "budget_period": "total",
                                              "expires_at": "2h", "metadata": {"owner": "svc"}}, expect=201)
    key, key_id = doc["key"], doc["id"]
    check(KEY_RE.match(key) and ID_RE.match(key_id) and doc["prefix"] == key[:12], "created %r" % doc)
    check(set(doc) == RECORD_FIELDS | {"key"}, "fields %r" % sorted(doc))
    check((doc["team"], doc["models"], doc["providers"], doc["scopes"], doc["rpm"], doc["tpm"], doc["budget_usd"],
           doc["budget_period"], doc["metadata"], doc["status"]) ==
          ("red", ["gpt-4o*"], ["openai"], ["llm", "history"], 60, None, 2.5, "total", {"owner": "svc"}, "active"),
          "values %r" % doc)
    check(row(pg, key_id, "key_hash")[0] == sha256(key), "stored hash")
    got = api(gw, "GET", "/api/admin/keys/" + key_id)
    check(got == {k: v for k, v in doc.items() if k != "key"}, "GET answers the record without the key: %r" % got)
    check(gw.request("HEAD", "/api/admin/keys/" + key_id).status == 200, "HEAD")

    before = updated_at(pg, key_id)
    up = api(gw, "PATCH", "/api/admin/keys/" + key_id, {"rpm": None, "models": [], "name": "svc-2",
                                                          "metadata": None})
    check((up["rpm"], up["models"], up["name"], up["metadata"], up["team"], up["budget_usd"])
          == (None, [], "svc-2", {}, "red", 2.5), "patched %r" % up)
    check(updated_at(pg, key_id) > before, "updated_at moved on PATCH")

    before = updated_at(pg, key_id)
    rot = api(gw, "POST", "/api/admin/keys/%s/rotate" % key_id)
    check(KEY_RE.match(rot["key"]) and rot["key"] != key and rot["id"] == key_id and rot["name"] == "svc-2",
          "rotated %r" % rot)
    check(row(pg, key_id, "key_hash")[0] == sha256(rot["key"]) and updated_at(pg, key_id) > before, "rotated row")

    before = updated_at(pg, key_id)
    rev = api(gw, "POST", "/api/admin/keys/%s/revoke" % key_id)
    check(rev["status"] == "revoked" and rev["revoked_at"], "revoked %r" % rev)
    check(updated_at(pg, key_id) > before, "updated_at moved on revocation")
    again = api(gw, "DELETE", "/api/admin/keys/" + key_id)
    check(again["revoked_at"] == rev["revoked_at"] and again["updated_at"] == rev["updated_at"],
          "DELETE of a revoked key changes nothing: %r" % again)
    error_format(gw.request("POST", "/api/admin/keys/%s/rotate" % key_id), 409, "KEY_REVOKED")

    for secret in (key, rot["key"]):
        check(secret not in gw.log(), "a key in the gateway's log")
        with open(gw.access_log) as f:
            check(secret not in f.read(), "a key in the access log")
        check(secret not in dump(pg), "a key in the database")


def test_api_lists_and_teams():
    gw, pg = start(mock=False)
    ids = []
    for i in range(5):
        ids.append(api(gw, "POST", "/api/admin/keys", {"name": "k%d" % i, "team": "even" if i % 2 == 0 else "odd"},
                       expect=201)["id"])
        time.sleep(0.002)
    api(gw, "DELETE", "/api/admin/keys/" + ids[0])
    doc = api(gw, "GET", "/api/admin/keys")
    check([k["id"] for k in doc["keys"]] == ids[:0:-1] and doc["total"] == 4 and doc["limit"] == 100,
          "active keys, newest first: %r" % doc)
    check(all("key" not in k and set(k) == RECORD_FIELDS | {"usage"} for k in doc["keys"]), "records and usage only")
    check(all(set(k["usage"]) == {"period_start", "requests", "tokens", "cost_usd"} for k in doc["keys"]),
          "usage of each key: %r" % doc["keys"][0]["usage"])
    doc = api(gw, "GET", "/api/admin/keys?include_revoked=true&limit=2&offset=3")
    check([k["id"] for k in doc["keys"]] == [ids[1], ids[0]] and doc["total"] == 5, "page %r" % doc)
    doc = api(gw, "GET", "/api/admin/keys?team=even")
    check([k["id"] for k in doc["keys"]] == [ids[4], ids[2]], "team filter %r" % doc)
    check(api(gw, "GET", "/api/admin/keys?team=nobody")["keys"] == [], "unknown team: empty")
    for q in ("limit=0", "limit=1001", "offset=-1", "include_revoked=maybe", "team=a%22b", "team=" + "t" * 129):
        body = error_format(gw.get("/api/admin/keys?" + q), 400, "INVALID_PARAMETER")
        check(q.split("=")[0] in body["detail"], "%s: %r" % (q, body["detail"]))

    team = api(gw, "PUT", "/api/admin/teams/even", {"budget_usd": 40, "budget_period": "day"})
    check((team["team"], team["budget_usd"], team["budget_period"], team["keys"], team["spent_usd"],
           team["remaining_usd"]) == ("even", 40, "day", 2, 0, 40), "team %r" % team)
    before = pg.sql("SELECT extract(epoch FROM updated_at) FROM api_teams WHERE team = 'even'")[0][0]
    team = api(gw, "PUT", "/api/admin/teams/even", {"budget_usd": None})
    check(team["budget_usd"] is None and team["budget_period"] == "month", "cleared: %r" % team)
    check(pg.sql("SELECT extract(epoch FROM updated_at) > %s FROM api_teams WHERE team = 'even'" % before)
          == [["t"]], "updated_at moved on PUT")
    odd_name = "x); DROP TABLE api_keys; --"
    api(gw, "PUT", "/api/admin/teams/" + urllib.parse.quote(odd_name, safe=""), {"budget_usd": 1})
    teams = api(gw, "GET", "/api/admin/teams")
    check([t["team"] for t in teams["teams"]] == ["even", "odd", odd_name] and teams["total"] == 3,
          "teams with a budget or a key: %r" % teams)
    check(pg.sql("SELECT count(*) FROM api_keys") == [["5"]], "the odd name was data")
    check(api(gw, "GET", "/api/admin/teams?limit=1&offset=1")["teams"][0]["team"] == "odd", "teams paging")
    for path, body, says in [("/api/admin/teams/even", {}, "budget_usd is required"),
                             ("/api/admin/teams/even", {"budget_usd": -5}, "budget_usd must be"),
                             ("/api/admin/teams/even", {"budget_usd": 5, "team": "x"}, "team cannot be given"),
                             ("/api/admin/teams/even", {"budget_usd": 5, "rpm": 1}, "rpm cannot be given"),
                             ("/api/admin/teams/a%22b", {"budget_usd": 5}, "team must be"),
                             ("/api/admin/teams/" + "t" * 129, {"budget_usd": 5}, "team must be")]:
        body = error_format(gw.request("PUT", path, body=json.dumps(body)), 400, "INVALID_PARAMETER")
        check(says in body["detail"], "%s %r: %r" % (path, body, body["detail"]))


def test_api_refuses_bad_input_and_unknown_ids():
    gw, pg = start(mock=False)
    cases = [({}, "name is required"), ({"name": ""}, "name must be 1 to 128"),
             ({"name": "x" * 129}, "name must be 1 to 128"), ({"name": 7}, "name must be a string"),
             ({"name": "k", "team": "a\\b"}, "team must be"), ({"name": "k", "rpm": 0}, "rpm must be an integer"),
             ({"name": "k", "rpm": 2147483648}, "rpm must be an integer from 1 to 2147483647"),
             ({"name": "k", "tpm": "5"}, "tpm must be an integer"), ({"name": "k", "max_parallel": 1.5}, "max_parallel"),
             ({"name": "k", "budget_usd": -1}, "budget_usd must be a number"),
             ({"name": "k", "budget_usd": 1e9 + 1}, "budget_usd must be"),
             ({"name": "k", "budget_period": "week"}, "budget_period must be day, month or total"),
             ({"name": "k", "models": "gpt-4o"}, "models must be an array"),
             ({"name": "k", "models": ["a b"]}, "models: pattern 1 is not valid"),
             ({"name": "k", "models": ["m"] * 65}, "models: at most 64 patterns"),
             ({"name": "k", "providers": ["p" * 129]}, "providers: item 1"),
             ({"name": "k", "providers": ["a,b"]}, "without commas"),
             ({"name": "k", "scopes": ["root"]}, "scopes: item 1 is not one of"),
             ({"name": "k", "scopes": []}, "scopes must name at least one"),
             ({"name": "k", "expires_at": "2001-01-01"}, "expires_at must be in the future"),
             ({"name": "k", "expires_at": "tomorrow"}, "expires_at must be a time"),
             ({"name": "k", "metadata": "x"}, "metadata must be a JSON object"),
             ({"name": "k", "metadata": {"a": "x" * 16400}}, "metadata must be a JSON object of at most 16384"),
             ({"name": "k", "budget": 5}, 'unknown field "budget"'),
             ({"name": "k", "key": "sk-orc-" + "a" * 43}, 'unknown field "key"'),
             ({"name": "k", "key_hash": "0" * 64}, 'unknown field "key_hash"')]
    for body, says in cases:
        err = error_format(gw.request("POST", "/api/admin/keys", body=json.dumps(body)), 400, "INVALID_PARAMETER")
        check(says in err["detail"], "%r: %r" % (body, err["detail"]))
    for raw in ("[]", "", "[5]", '"name"'):
        err = error_format(gw.request("POST", "/api/admin/keys", body=raw), 400, "INVALID_PARAMETER")
        check("the body must be a JSON object" in err["detail"], "%r: %r" % (raw, err))
    for raw in ("{not json", "null", '{"name": "k"} x'):
        error_format(gw.request("POST", "/api/admin/keys", body=raw), 400, "INVALID_JSON")
    check(pg.sql("SELECT count(*) FROM api_keys") == [["0"]], "nothing was written")

    key_id = api(gw, "POST", "/api/admin/keys", {"name": "k"}, expect=201)["id"]
    for body, says in [({}, "nothing to change"), ({"rpm": -1}, "rpm must be"), ({"name": None}, "name must be"),
                       ({"id": "key_0000000000000000"}, 'unknown field "id"')]:
        err = error_format(gw.request("PATCH", "/api/admin/keys/" + key_id, body=json.dumps(body)), 400)
        check(says in err["detail"], "PATCH %r: %r" % (body, err["detail"]))
    check(row(pg, key_id, "name, rpm IS NULL") == ["k", "t"], "refused changes changed nothing")

    unknown = "key_00000000000000ff"
    bad_ids = ["nonsense", "key_XYZ", "key_0123456789ABCDEF", "key_0123456789abcdef0", key_id.upper(),
               urllib.parse.quote("key_' OR '1'='1", safe=""), urllib.parse.quote("%s'; --" % key_id, safe="")]
    for i in [unknown] + bad_ids:
        for method, path in [("GET", "/api/admin/keys/%s"), ("PATCH", "/api/admin/keys/%s"),
                             ("DELETE", "/api/admin/keys/%s"), ("POST", "/api/admin/keys/%s/revoke"),
                             ("POST", "/api/admin/keys/%s/rotate"), ("GET", "/api/admin/keys/%s/spend")]:
            r = gw.request(method, path % i, body=json.dumps({"rpm": 5}) if method == "PATCH" else None)
            error_format(r, 404, "KEY_NOT_FOUND")
    check(row(pg, key_id, "revoked_at IS NULL, rpm IS NULL") == ["t", "t"], "the real key untouched")
    for method, path in [("PUT", "/api/admin/keys"), ("POST", "/api/admin/keys/%s" % key_id),
                         ("GET", "/api/admin/keys/%s/rotate" % key_id), ("POST", "/api/admin/teams")]:
        error_format(gw.request(method, path), 405, "METHOD_NOT_ALLOWED")
    for q, says in [("group_by=week", "group_by"), ("from=yesterday", "from must be a time"),
                    ("to=2026-13-01", "to must be a time"), ("from=2026-02-01&to=2026-01-01", "from must be before"),
                    ("limit=0", "limit"), ("limit=1001", "limit"), ("group_by=" + "k" * 40, "group_by")]:
        err = error_format(gw.get("/api/admin/spend?" + q), 400, "INVALID_PARAMETER")
        check(says in err["detail"], "spend %s: %r" % (q, err["detail"]))


SPEND_SEED = """
INSERT INTO orchestration_requests (request_id, prompt, model, status, tokens_used, cost_usd, key_id, team,
                                    created_at) VALUES
 ('a1', 'p', 'gpt-4o-mini', 'completed', 100, 1.25, '{a}', 'red', now() - interval '1 second'),
 ('a2', 'p', 'claude-haiku', 'completed', 200, 2.5, '{a}', 'red',
  date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 second'),
 ('a3', 'p', 'gpt-4o-mini', 'completed', 50, 4, '{a}', 'red', '2025-03-10T12:00:00Z'),
 ('a4', 'p', 'gemini-2.5-flash', 'failed', NULL, NULL, '{a}', 'red', now() - interval '2 seconds'),
 ('b1', 'p', 'gpt-4o-mini', 'completed', 10, 0.4, '{b}', 'blue', now() - interval '1 second'),
 ('b2', 'p', 'gpt-4o-mini', 'completed', 20, 0.7, '{b}', 'blue',
  date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 hour'),
 ('n1', 'p', 'gemini-2.5-flash', 'completed', 5, 0.05, NULL, NULL, now() - interval '1 second');
INSERT INTO orchestration_results (request_id, attempt, provider, status) VALUES
 ('a1', 1, 'openai', 'success'), ('a2', 1, 'openai', 'failed'), ('a2', 2, 'anthropic', 'success'),
 ('a3', 1, 'openai', 'success'), ('a4', 1, 'gemini', 'failed'), ('b1', 1, 'openai', 'success'),
 ('b2', 1, 'openai', 'success'), ('n1', 1, 'gemini', 'success');
"""


def near(a, b):
    return a is not None and abs(a - b) < 1e-9


def groups(doc):
    return {g["group"]: (g["requests"], g["tokens"], round(g["cost_usd"], 9)) for g in doc["groups"]}


def test_spend_reports_match_the_request_log():
    gw, pg = start(mock=False)
    a = api(gw, "POST", "/api/admin/keys", {"name": "alpha", "team": "red", "budget_usd": 10}, expect=201)["id"]
    b = json.loads(keys(pg.url, "create", "--name", "beta", "--team", "blue", "--budget", "1", "--budget-period",
                        "day", "--json")[0])["id"]
    pg.sql(SPEND_SEED.replace("{a}", a).replace("{b}", b))

    s = api(gw, "GET", "/api/admin/keys/%s/spend" % a)
    check((s["key_id"], s["name"], s["team"], s["budget_usd"], s["budget_period"]) ==
          (a, "alpha", "red", 10, "month"), "spend header %r" % s)
    p, t = s["period"], s["total"]
    check((p["requests"], p["tokens"]) == (3, 300) and near(p["cost_usd"], 3.75) and near(p["remaining_usd"], 6.25),
          "this month: a1, a2, a4: %r" % p)
    check(p["start"].endswith("-01T00:00:00.000Z"), "the month starts on the 1st in UTC: %r" % p["start"])
    check((t["requests"], t["tokens"]) == (4, 350) and near(t["cost_usd"], 7.75), "all time %r" % t)
    s = api(gw, "GET", "/api/admin/keys/%s/spend" % b)
    check((s["period"]["requests"], s["period"]["tokens"]) == (1, 10) and near(s["period"]["cost_usd"], 0.4)
          and near(s["period"]["remaining_usd"], 0.6), "today: b1 only: %r" % s["period"])
    check(s["period"]["start"].endswith("T00:00:00.000Z"), "the day starts at 00:00 UTC")
    check(s["total"]["requests"] == 2 and near(s["total"]["cost_usd"], 1.1), "all time %r" % s["total"])
    api(gw, "PATCH", "/api/admin/keys/" + b, {"budget_period": "total", "budget_usd": 1})
    s = api(gw, "GET", "/api/admin/keys/%s/spend" % b)
    check(s["period"]["start"] is None and s["period"]["requests"] == 2 and s["period"]["remaining_usd"] == 0,
          "a total budget counts everything, never below 0 left: %r" % s["period"])

    everything = "&from=2000-01-01&to=2100-01-01"
    doc = api(gw, "GET", "/api/admin/spend?group_by=key" + everything)
    check(groups(doc) == {a: (4, 350, 7.75), b: (2, 30, 1.1), None: (1, 5, 0.05)}, "by key %r" % doc)
    check([g["group"] for g in doc["groups"]] == [a, b, None] and doc["groups"][0]["name"] == "alpha",
          "by cost, with names: %r" % doc["groups"])
    check((doc["total"]["requests"], doc["total"]["tokens"]) == (7, 385) and near(doc["total"]["cost_usd"], 8.9)
          and doc["groups_total"] == 3 and doc["truncated"] is False, "totals %r" % doc)
    check((doc["from"], doc["to"]) == ("2000-01-01T00:00:00.000Z", "2100-01-01T00:00:00.000Z"), "window %r" % doc)
    check(groups(api(gw, "GET", "/api/admin/spend?group_by=team" + everything)) ==
          {"red": (4, 350, 7.75), "blue": (2, 30, 1.1), None: (1, 5, 0.05)}, "by team")
    check(groups(api(gw, "GET", "/api/admin/spend?group_by=model" + everything)) ==
          {"gpt-4o-mini": (4, 180, 6.35), "claude-haiku": (1, 200, 2.5), "gemini-2.5-flash": (2, 5, 0.05)},
          "by model")
    check(groups(api(gw, "GET", "/api/admin/spend?group_by=provider" + everything)) ==
          {"openai": (4, 180, 6.35), "anthropic": (1, 200, 2.5), "gemini": (1, 5, 0.05), None: (1, 0, 0)},
          "by provider: that of the first successful attempt")
    days = api(gw, "GET", "/api/admin/spend?group_by=day" + everything)
    check([g["group"] for g in days["groups"]] == sorted(g["group"] for g in days["groups"])
          and days["groups"][0]["group"] == "2025-03-10", "days in order: %r" % days["groups"])
    check(sum(g["requests"] for g in days["groups"]) == 7, "every request on a day")
    top = api(gw, "GET", "/api/admin/spend?group_by=key&limit=1" + everything)
    check([g["group"] for g in top["groups"]] == [a] and top["groups_total"] == 3 and top["truncated"] is True
          and top["total"]["requests"] == 7, "bounded: %r" % top)
    march = api(gw, "GET", "/api/admin/spend?group_by=key&from=2025-03-01&to=2025-04-01T00:00:00%2B00:00")
    check(groups(march) == {a: (1, 50, 4.0)}, "window: %r" % march)
    recent = api(gw, "GET", "/api/admin/spend")
    check(recent["group_by"] == "key" and recent["total"]["requests"] >= 4, "defaults: last 30 days: %r" % recent)

    api(gw, "PUT", "/api/admin/teams/red", {"budget_usd": 5})
    teams = {t["team"]: t for t in api(gw, "GET", "/api/admin/teams")["teams"]}
    check(near(teams["red"]["spent_usd"], 3.75) and near(teams["red"]["remaining_usd"], 1.25),
          "red this month: %r" % teams["red"])
    check(teams["blue"]["budget_usd"] is None and teams["blue"]["remaining_usd"] is None, "blue %r" % teams["blue"])


# ---- who may call, and without a database ----------------------------------------------

# Every route; the revocations last, as a revoked key cannot be rotated.
KEY_ROUTES = [("POST", "/api/admin/keys"), ("GET", "/api/admin/keys"), ("GET", "/api/admin/keys/%s"),
              ("PATCH", "/api/admin/keys/%s"), ("POST", "/api/admin/keys/%s/rotate"),
              ("GET", "/api/admin/keys/%s/spend"), ("GET", "/api/admin/teams"), ("PUT", "/api/admin/teams/red"),
              ("GET", "/api/admin/spend"), ("POST", "/api/admin/keys/%s/revoke"), ("DELETE", "/api/admin/keys/%s")]
BODIES = {"POST /api/admin/keys": {"name": "k"}, "PATCH": {"rpm": 5}, "PUT": {"budget_usd": 5}}


def call(gw, method, path, key_id, headers=None, host=None):
    route = "%s %s" % (method, path)
    body = BODIES.get(route, BODIES.get(method))
    target = path % key_id if "%s" in path else path
    if host is None:
        return gw.request(method, target, body=json.dumps(body) if body else None, headers=headers)
    conn = http.client.HTTPConnection(host, gw.port, timeout=5)
    try:
        conn.request(method, target, body=json.dumps(body) if body else None, headers=headers or {})
        r = conn.getresponse()
        return harness.Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def test_admin_rules_of_today():
    gw, pg = start(mock=False, env={"SECRET_KEY": "master-key-for-keys"})
    auth = {"Authorization": "Bearer master-key-for-keys"}
    key_id = api(gw, "POST", "/api/admin/keys", {"name": "k"}, headers=auth, expect=201)["id"]
    for method, path in KEY_ROUTES:
        error_format(call(gw, method, path, key_id), 401, "UNAUTHORIZED")
        error_format(call(gw, method, path, key_id, {"Authorization": "Bearer wrong"}), 401, "UNAUTHORIZED")
    check(row(pg, key_id, "revoked_at IS NULL") == ["t"] and pg.sql("SELECT count(*) FROM api_keys") == [["1"]],
          "refused calls changed nothing")
    for method, path in KEY_ROUTES:
        r = call(gw, method, path, key_id, auth)
        check(r.status in (200, 201), "%s %s with the master key: %d %r" % (method, path, r.status, r.body[:200]))
    check("master-key-for-keys" not in gw.log(), "the master key in the log")


def test_without_master_key_loopback_only():
    """From loopback without a master key the key routes answer; the 403
    to other addresses is in test_auth's matrix, which runs the gateway in
    a private network namespace."""
    pg = SuiteDatabase().start()
    gw = Gateway(workers=1, env={"DATABASE_URL": pg.url}).start()
    wait_until(lambda: gw.get("/api/db/health").status == 200, 15, interval=0.1, what="the database")
    key_id = api(gw, "POST", "/api/admin/keys", {"name": "k"}, expect=201)["id"]
    for method, path in KEY_ROUTES:
        r = call(gw, method, path, key_id)
        check(r.status in (200, 201), "%s %s from loopback: %d" % (method, path, r.status))


def test_without_database_every_route_answers_503():
    gw = Gateway(workers=1).start()
    key_id = "key_0000000000000001"
    for method, path in KEY_ROUTES:
        body = error_format(call(gw, method, path, key_id), 503, "DATABASE_UNAVAILABLE")
        check("database.url" in body["detail"], "%s %s: %r" % (method, path, body["detail"]))


def test_postgres_stopped_answers_503_then_recovers():
    pg = PgServer().start()
    gw, _ = start(pg=pg, mock=False)
    key_id = api(gw, "POST", "/api/admin/keys", {"name": "k"}, expect=201)["id"]
    pg.stop()
    for method, path in KEY_ROUTES:
        t0 = time.monotonic()
        error_format(call(gw, method, path, key_id), 503, "DATABASE_UNAVAILABLE")
        check(time.monotonic() - t0 < 4, "%s %s took %.1f s" % (method, path, time.monotonic() - t0))
    pg.start()
    wait_until(lambda: gw.get("/api/admin/keys/" + key_id).status == 200, 15, interval=0.2, what="recovery")
    check(api(gw, "GET", "/api/admin/keys/" + key_id)["status"] == "active", "the key survived")
test_postgres_stopped_answers_503_then_recovers.TIMEOUT = 90


def test_client_leaving_a_key_query_is_harmless():
    pg = PgServer().start()
    gw, _ = start(pg=pg, mock=False)
    workers = gw.workers()
    pg.freeze()
    try:
        for body in (b'{"name": "k"}', b'{"name": "j"}'):
            s = socket.create_connection(("127.0.0.1", gw.port))
            s.sendall(b"POST /api/admin/keys HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(0.3)
            s.close()
        wait_until(lambda: gw.log().count("the client left; its database step is cancelled") >= 2, 5,
                   what="the departures noticed")
    finally:
        pg.thaw()
    wait_until(lambda: gw.get("/api/admin/keys").status == 200, 15, interval=0.2, what="recovery after thaw")
    check(gw.workers() == workers, "no worker died")
test_client_leaving_a_key_query_is_harmless.TIMEOUT = 90
