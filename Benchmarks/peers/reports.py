#!/usr/bin/env python3
"""The practice reports of SPEC §3.6 computed by DuckDB in SQL from the same NDJSON a journeyd
store holds, checked against journeyd's answers over its socket, each timed in the same run.

    python3 Benchmarks/peers/reports.py --ndjson F --store DIR [--journeyd PATH] [--runs R]

`--store` holds exactly the events of F. A daemon is started on it (or the one serving it is
used). DuckDB gets what a warehouse would have: the events in a table and each event's identity
cluster computed in advance (a union-find over identify events, in Python, not timed; stores with
`unlink` events are out of scope here); an event id sent twice is loaded once. Each report is then one SQL statement, timed (median of
R runs) next to the same report asked of journeyd over its socket (median of R runs). One JSON
line per report on stdout; differences between the answers are printed and make the exit code 1.
"""
import argparse, json, os, socket, subprocess, sys, time
from datetime import datetime, timezone
from decimal import Decimal, ROUND_HALF_UP

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reports")
DAY = 86_400_000

# Times are read in either form a store accepts (RFC 3339 or epoch milliseconds, as the field
# shape mixes them); an event sent twice (same id, as the field shape resends a few) is one row,
# as the store keeps it once.
LOAD = """
CREATE TABLE ev AS
SELECT DISTINCT ON (id) * FROM (
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
  direction, patient, referrer, appointment, location, provider, source,
  CASE WHEN scheduled_for IS NULL THEN NULL
       WHEN regexp_full_match(scheduled_for, '[0-9]+') THEN CAST(scheduled_for AS BIGINT)
       ELSE epoch_ms(CAST(scheduled_for AS TIMESTAMPTZ)) END AS scheduled_for,
  amount
FROM read_json('{FILE}', format = 'newline_delimited',
  columns = {id: 'VARCHAR', type: 'VARCHAR', subject: 'VARCHAR', "at": 'VARCHAR', channel: 'VARCHAR',
             to_channel: 'VARCHAR', direction: 'VARCHAR', patient: 'VARCHAR', referrer: 'VARCHAR',
             appointment: 'VARCHAR', location: 'VARCHAR', provider: 'VARCHAR', source: 'VARCHAR',
             scheduled_for: 'VARCHAR', amount: 'DECIMAL(18,2)'})
)
"""


def emit(obj):
    print(json.dumps(obj), flush=True)


def note(msg):
    print("# " + msg, file=sys.stderr, flush=True)


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def month_start(ms):
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return int(datetime(d.year, d.month, 1, tzinfo=timezone.utc).timestamp() * 1000)


def add_months(ms, k):
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    y, m = divmod(d.month - 1 + k, 12)
    return int(datetime(d.year + y, m + 1, 1, tzinfo=timezone.utc).timestamp() * 1000)


def canonical_ids(con):
    """Each id named by an identify event → its cluster's canonical id (SPEC §3.1, without unlink)."""
    rows = con.execute("""SELECT subject, patient FROM ev WHERE type = 'identify' AND patient IS NOT NULL
                          ORDER BY "at", id""").fetchall()
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s, p in rows:
        a, b = find(s), find(p)
        if a != b:
            parent[a] = b
    members, subjects = {}, set(s for s, _ in rows)
    for x in list(parent):
        members.setdefault(find(x), []).append(x)
    first_patient = {}
    for s, p in rows:  # timeline order
        first_patient.setdefault(find(s), []).append(p)
    canon = {}
    for root, ids in members.items():
        sinks = [x for x in ids if x not in subjects]
        if len(sinks) == 1:
            c = sinks[0]
        elif not sinks:
            c = first_patient[root][0]
        else:
            c = next(p for p in first_patient[root] if p in sinks)
        for x in ids:
            canon[x] = c
    return canon


class Daemon:
    def __init__(self, journeyd, store):
        self.path = os.path.join(store, "journeyd.sock")
        self.proc = None
        if not os.path.exists(self.path):
            self.proc = subprocess.Popen([journeyd, "serve", "--data", store], stderr=subprocess.DEVNULL)
            for _ in range(600):
                if os.path.exists(self.path):
                    break
                time.sleep(0.05)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)
        self.buf = b""

    def ask(self, request):
        self.sock.sendall((json.dumps(request) + "\n").encode())
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise SystemExit("journeyd closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        answer = json.loads(line)
        if not answer.get("ok"):
            raise SystemExit(f"journeyd refused {request['op']}: {answer}")
        return answer

    def close(self):
        self.sock.close()
        if self.proc:
            self.proc.terminate()
            self.proc.wait()


def median_time(fn, runs):
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], result


def sql(name, **params):
    with open(os.path.join(HERE, name + ".sql")) as f:
        text = "\n".join(l for l in f.read().splitlines() if not l.strip().startswith("--"))
    for k, v in params.items():
        text = text.replace("{" + k + "}", str(v))
    return text


def money(x):
    return float(Decimal(str(x)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def nonzero(d):
    return any(v for v in d.values())


# Each report: the journeyd request, the SQL, and both answers reduced to one comparable form.

def appointments(frm, to):
    req = {"op": "appointments", "from": iso(frm), "to": iso(to), "by": "location"}
    keys = ["appointments", "visited", "no_show", "cancelled", "open", "rebooked"]
    def from_sql(rows):
        out = {}
        for r in rows:
            d = dict(zip(keys, r[1:7]))
            d["revenue"] = money(r[7])
            out[r[0]] = d
        return out
    def from_journeyd(a):
        return {g["value"]: {**{k: g[k] for k in keys}, "revenue": money(g["revenue"])} for g in a["groups"]}
    return req, sql("appointments", FROM=frm, TO=to), from_sql, from_journeyd


def patients(frm, to):
    req = {"op": "patients", "from": iso(frm), "to": iso(to), "by": "acquisition_channel"}
    keys = ["new", "referred_new", "active_at_start", "retained", "lapsed", "visits"]
    def from_sql(rows):
        out = {}
        for r in rows:
            d = dict(zip(keys, [int(x) for x in r[1:7]]))
            d["revenue"] = money(r[7])
            if nonzero(d):
                out[r[0]] = d
        return out
    def from_journeyd(a):
        return {g["value"]: {**{k: g[k] for k in keys}, "revenue": money(g["revenue"])} for g in a["groups"]}
    return req, sql("patients", FROM=frm, TO=to), from_sql, from_journeyd


def cohorts(frm, to, periods=12):
    req = {"op": "cohorts", "from": iso(frm), "to": iso(to), "periods": periods}
    def from_sql(rows):
        out = {}
        for month, k, n in rows:
            out.setdefault(month, [0] * periods)[int(k)] = int(n)
        result = {}
        for month, counts in out.items():
            y, m = map(int, month.split("-"))
            start = int(datetime(y, m, 1, tzinfo=timezone.utc).timestamp() * 1000)
            result[month] = [None if add_months(start, k) >= to else counts[k] for k in range(periods)]
        return result
    def from_journeyd(a):
        return {c["month"]: c["retained"] for c in a["cohorts"]}
    return req, sql("cohorts", FROM=frm, TO=to, PERIODS=periods), from_sql, from_journeyd


def trends(frm, to):
    req = {"op": "trends", "step": "inquiry", "interval": "month", "from": iso(frm), "to": iso(to), "by": "channel"}
    def from_sql(rows):
        out = {}
        for grp, bucket, n in rows:
            out.setdefault(grp, {})[bucket] = int(n)
        return out
    def from_journeyd(a):
        buckets = [b[:7] for b in a["buckets"]]
        return {g["value"]: {b: c for b, c in zip(buckets, g["counts"]) if c} for g in a["groups"]}
    return req, sql("trends", FROM=frm, TO=to), from_sql, from_journeyd


def referrals(as_of):
    limit = 10_000
    req = {"op": "referrals", "as_of": iso(as_of), "limit": limit}
    def from_sql(rows):
        # The answer's order: referred, then converted (both descending), then canonical id.
        rows = sorted(rows, key=lambda r: (-int(r[1]), -int(r[2]), r[0].encode()))[:limit]
        return {r: (int(n), int(cv), money(v)) for r, n, cv, v in rows}
    def from_journeyd(a):
        return {x["patient"]: (x["referred"], x["converted"], money(x["revenue"])) for x in a["referrers"]}
    return req, sql("referrals", AS_OF=as_of), from_sql, from_journeyd


def segment(as_of):
    req = {"op": "segment", "as_of": iso(as_of), "stage": ["active", "lapsed"], "min_visits": 2, "limit": 1000}
    def from_sql(rows):
        ids = sorted((r[0] for r in rows), key=lambda s: s.encode())
        return {"total": len(ids), "first_page": ids[:1000]}
    def from_journeyd(a):
        return {"total": a["total"], "first_page": [p["patient"] for p in a["patients"]]}
    return req, sql("segment", AS_OF=as_of), from_sql, from_journeyd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ndjson", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--journeyd", default=".build/release/journeyd")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET threads = {a.threads}")
    t0 = time.perf_counter()
    con.execute(LOAD.replace("{FILE}", os.path.abspath(a.ndjson).replace("'", "''")))
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    canon = canonical_ids(con)
    import csv, tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as f:
        csv.writer(f).writerows([("node", "c")] + list(canon.items()))
    con.execute(f"CREATE TABLE canon AS SELECT * FROM read_csv('{f.name}', header = true, columns = {{node: 'VARCHAR', c: 'VARCHAR'}})")
    os.remove(f.name)
    con.execute("CREATE TABLE evc AS SELECT ev.*, COALESCE(canon.c, ev.subject) AS c FROM ev LEFT JOIN canon ON canon.node = ev.subject")
    prep_s = time.perf_counter() - t0
    events, lo, hi = con.execute('SELECT COUNT(*), MIN("at"), MAX("at") FROM ev').fetchone()
    note(f"duckdb: {events} events loaded in {load_s:.2f}s; clusters and evc in {prep_s:.2f}s (not timed below)")
    # The last full year of the data, in whole months; as_of its last millisecond.
    to = month_start(hi)
    frm = add_months(to, -12)
    emit({"scenario": "peer_report_setup", "events": events,
          "duckdb_version": duckdb.__version__, "duckdb_threads": a.threads, "runs": a.runs,
          "load_s": round(load_s, 3), "prep_s": round(prep_s, 3), "from": iso(frm), "to": iso(to)})
    daemon = Daemon(a.journeyd, a.store)
    failed = False
    try:
        for name, (req, text, from_sql, from_journeyd) in [
            ("appointments", appointments(frm, to)), ("patients", patients(frm, to)), ("cohorts", cohorts(frm, to)),
            ("trends", trends(frm, to)), ("referrals", referrals(to - 1)), ("segment", segment(to - 1)),
        ]:
            sql_s, rows = median_time(lambda: con.execute(text).fetchall(), a.runs)
            jd_s, answer = median_time(lambda: daemon.ask(req), a.runs)
            got, want = from_sql(rows), from_journeyd(answer)
            agree = got == want
            r = {"scenario": "peer_report", "report": name, "events": events, "duckdb_s": round(sql_s, 4),
                 "journeyd_socket_s": round(jd_s, 4), "duckdb_over_journeyd": round(sql_s / jd_s, 1) if jd_s else None,
                 "agrees_with_journeyd": agree}
            if not agree:
                failed = True
                diffs = [k for k in sorted(set(got) | set(want), key=str) if got.get(k) != want.get(k)]
                r["differences"] = [f"{k}: duckdb {got.get(k)} vs journeyd {want.get(k)}" for k in diffs[:3]]
            emit(r)
    finally:
        daemon.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
