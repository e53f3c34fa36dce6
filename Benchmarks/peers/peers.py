#!/usr/bin/env python3
"""Peers: the default funnel of SPEC §3.4 computed by SQLite and by DuckDB over the same NDJSON,
checked against journeyd's own `funnel` answer; and an import comparison (journeyd import vs
DuckDB read_json into a table).

    python3 Benchmarks/peers/peers.py funnel --ndjson F --store DIR --journeyd PATH [--work DIR]
    python3 Benchmarks/peers/peers.py import --ndjson F --journeyd PATH [--work DIR] [--runs R] [--keep-store DIR]

`--store` is a journeyd store holding exactly the events of F. `--keep-store` keeps the store
the last journeyd import wrote, in DIR (replaced when present). One JSON line per result on stdout.
SQLite is Debian's `sqlite3` shell; DuckDB is the `duckdb` Python package (pip install duckdb).
"""
import argparse, json, os, shutil, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
WINDOW_MS = 30 * 86_400_000
STEPS = ["touch", "inquiry", "booking", "visit"]

DUCKDB_LOAD = """
CREATE TABLE ev AS
SELECT id, type, subject,
  CASE WHEN regexp_full_match("at", '[0-9]+') THEN CAST("at" AS BIGINT)
       ELSE epoch_ms(CAST("at" AS TIMESTAMPTZ)) END AS "at",
  COALESCE(channel, CASE type
      WHEN 'search_hit' THEN 'search'
      WHEN 'web_visit' THEN 'web' WHEN 'form' THEN 'web' WHEN 'booking' THEN 'web'
      WHEN 'call' THEN 'phone' WHEN 'cancellation' THEN 'phone'
      WHEN 'chat' THEN 'chat'
      WHEN 'handoff' THEN COALESCE(to_channel, 'chat')
      WHEN 'message_sent' THEN 'email' WHEN 'message_opened' THEN 'email'
      WHEN 'no_show' THEN 'in_person' WHEN 'visit' THEN 'in_person'
      WHEN 'referral' THEN 'referral'
    END) AS channel,
  direction, patient
FROM read_json('{FILE}', format = 'newline_delimited',
  columns = {id: 'VARCHAR', type: 'VARCHAR', subject: 'VARCHAR', "at": 'VARCHAR', channel: 'VARCHAR',
             to_channel: 'VARCHAR', direction: 'VARCHAR', patient: 'VARCHAR'})
"""


def emit(obj):
    print(json.dumps(obj), flush=True)


def note(msg):
    print("# " + msg, file=sys.stderr, flush=True)


def funnel_sql():
    with open(os.path.join(HERE, "funnel.sql")) as f:
        return f.read().replace("{WINDOW_MS}", str(WINDOW_MS))


def sql_string(path):
    return path.replace("'", "''")


def rows_to_groups(rows):
    """[(grp, step, count, median)] → {group: [(count, median) per step]}."""
    groups = {}
    for grp, step, count, median in rows:
        g = groups.setdefault(grp, [None] * len(STEPS))
        g[int(step) - 1] = (int(count), None if median is None or int(step) == 1 else int(median))
    # A group that no one reached past step 1 still has its later steps at 0.
    for g in groups.values():
        for i, v in enumerate(g):
            if v is None:
                g[i] = (0, None)
    return groups


def journeyd_groups(journeyd, store):
    out = subprocess.run([journeyd, "funnel", "--json", "--data", store], check=True, capture_output=True, text=True)
    answer = json.loads(out.stdout)
    assert answer["steps"] == STEPS and answer["by"] == "channel" and answer["window_s"] == WINDOW_MS // 1000, answer
    return {g["value"]: [(s["count"], s["median_ms"]) for s in g["steps"]] for g in answer["groups"]}


def compare(name, got, want):
    if got == want:
        return True, ""
    diffs = []
    for k in sorted(set(got) | set(want), key=lambda x: (x is None, x or "")):
        if got.get(k) != want.get(k):
            diffs.append(f"{k}: {name} {got.get(k)} vs journeyd {want.get(k)}")
    return False, "; ".join(diffs[:4])


def run_sqlite(ndjson, work):
    db = os.path.join(work, "funnel.sqlite")
    for suffix in ("", "-journal", "-wal"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    with open(os.path.join(HERE, "load_sqlite.sql")) as f:
        load = f.read().replace("{FILE}", ndjson)
    t0 = time.perf_counter()
    out = subprocess.run(["sqlite3", "-batch", "-csv", db], input=load, check=True, capture_output=True, text=True)
    load_s = time.perf_counter() - t0
    bad = [l for l in out.stdout.splitlines() if l.startswith("bad_time")]
    if bad and bad[0].split(",")[1] != "0":
        raise SystemExit(f"sqlite load: times not in the canonical form: {bad[0]}")
    t0 = time.perf_counter()
    out = subprocess.run(["sqlite3", "-batch", "-csv", db], input=funnel_sql(), check=True, capture_output=True, text=True)
    query_s = time.perf_counter() - t0
    rows = []
    for line in out.stdout.splitlines():
        grp, step, count, median = line.split(",")
        rows.append((grp or None, int(step), int(count), int(median) if median else None))
    os.remove(db)
    return load_s, query_s, rows


def run_duckdb(ndjson):
    import duckdb
    con = duckdb.connect()
    t0 = time.perf_counter()
    con.execute(DUCKDB_LOAD.replace("{FILE}", sql_string(ndjson)))
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    # Comment lines dropped first: they may hold semicolons.
    text = "\n".join(l for l in funnel_sql().splitlines() if not l.strip().startswith("--"))
    statements = [s for s in text.split(";") if s.strip()]
    for s in statements[:-1]:
        con.execute(s)
    rows = con.execute(statements[-1]).fetchall()
    query_s = time.perf_counter() - t0
    con.close()
    return load_s, query_s, rows


def funnel_command(a):
    events = sum(1 for _ in open(a.ndjson, "rb"))
    want = journeyd_groups(a.journeyd, a.store)
    t0 = time.perf_counter()
    journeyd_groups(a.journeyd, a.store)
    journeyd_s = time.perf_counter() - t0
    emit({"scenario": "peer_funnel", "engine": "journeyd", "events": events,
          "query_s": round(journeyd_s, 3), "note": "journeyd funnel --json: process start, checkpoint load, query"})
    peers = [("sqlite", lambda: run_sqlite(a.ndjson, a.work))]
    try:
        import duckdb  # noqa: F401
        peers.append(("duckdb", lambda: run_duckdb(a.ndjson)))
    except ImportError:
        note("duckdb is not installed (pip install duckdb): skipping it")
    if shutil.which("sqlite3") is None:
        note("sqlite3 is not installed (apt-get install sqlite3): skipping it")
        peers = peers[1:]
    for name, run in peers:
        load_s, query_s, rows = run()
        agree, diff = compare(name, rows_to_groups(rows), want)
        r = {"scenario": "peer_funnel", "engine": name, "events": events, "load_s": round(load_s, 3),
             "query_s": round(query_s, 3), "agrees_with_journeyd": agree}
        if diff:
            r["differences"] = diff
        emit(r)


# DuckDB's load, run as its own process (python -c) so that its time and peak memory are
# measured as journeyd's are: process start to exit.
DUCKDB_IMPORT = """
import duckdb, sys
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE events AS SELECT * FROM read_json('" + sys.argv[2] + "', format = 'newline_delimited')")
con.execute("CHECKPOINT")
con.close()
"""


def timed(cmd):
    """Runs `cmd`: (seconds from process start to exit, the process's peak resident bytes)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}: {p.stderr.read().decode(errors='replace')[-2000:]}")
    return seconds, usage.ru_maxrss * 1024


def import_command(a):
    import duckdb  # noqa: F401 (present, or the comparison cannot run)
    events = sum(1 for _ in open(a.ndjson, "rb"))
    jd, dd = [], []
    for i in range(a.runs):
        store = os.path.join(a.work, f"import-{i}")
        shutil.rmtree(store, ignore_errors=True)
        jd.append(timed([a.journeyd, "import", a.ndjson, "--data", store]))
        if a.keep_store and i + 1 == a.runs:
            shutil.rmtree(a.keep_store, ignore_errors=True)
            shutil.move(store, a.keep_store)
        shutil.rmtree(store, ignore_errors=True)
        db = os.path.join(a.work, f"import-{i}.duckdb")
        for p in (db, db + ".wal"):
            if os.path.exists(p):
                os.remove(p)
        dd.append(timed([sys.executable, "-c", DUCKDB_IMPORT, db, sql_string(a.ndjson)]))
        for p in (db, db + ".wal"):
            if os.path.exists(p):
                os.remove(p)
        note(f"import run {i + 1}: journeyd {jd[-1][0]:.2f}s ({jd[-1][1] / 2**20:.0f} MiB peak), "
             f"duckdb {dd[-1][0]:.2f}s ({dd[-1][1] / 2**20:.0f} MiB peak)")
    for name, runs, how in (("journeyd", jd, "journeyd import FILE: validated, durable, projections live"),
                            ("duckdb", dd, "read_json(FILE) into a table of a DuckDB file, CHECKPOINT, in its own process")):
        times = sorted(t for t, _ in runs)
        peaks = sorted(m for _, m in runs)
        emit({"scenario": "peer_import", "engine": name, "events": events, "runs": len(times),
              "p50_s": round(times[len(times) // 2], 3), "min_s": round(times[0], 3),
              "p50_events_per_s": int(events / times[len(times) // 2]),
              "p50_peak_rss_bytes": peaks[len(peaks) // 2], "how": how})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["funnel", "import"])
    ap.add_argument("--ndjson", required=True)
    ap.add_argument("--store")
    ap.add_argument("--journeyd", default=".build/release/journeyd")
    ap.add_argument("--work", default="/tmp/journey-bench-peers")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep-store", help="import: where to keep the store of the last journeyd import")
    a = ap.parse_args()
    a.ndjson = os.path.abspath(a.ndjson)
    os.makedirs(a.work, exist_ok=True)
    if a.command == "funnel":
        if not a.store:
            ap.error("funnel needs --store")
        funnel_command(a)
    else:
        import_command(a)


if __name__ == "__main__":
    main()
