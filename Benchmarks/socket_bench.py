#!/usr/bin/env python3
"""Socket ingest and handoff latency of `journeyd serve`, from separate client processes.

    python3 Benchmarks/socket_bench.py [--journeyd .build/release/journeyd] [--seconds 5]

Starts a daemon on a fresh directory (durable acks: fsync before every `ok`), then:
  1. 16 client processes append 1 event per request, for --seconds;
  2. 16 client processes append 100 events per request, for --seconds;
  3. handoff latency over the socket (p50/p99) from one client while 8 clients append.
Prints one JSON line per result. Clients are plain Python; on a 2-core machine they share the
CPU with the daemon, so these figures are a lower bound on what the daemon sustains.

    python3 Benchmarks/socket_bench.py --signals [--seconds 5]

measures what signals cost instead: the 100-events-per-request ingest of events that move risks
(each request holds 50 new patients' cancellations 20 days back, which enter
`cancelled_not_rebooked`, and bookings that rebook the previous request's 50, which leave it),
with no signal consumer, with one reading every signal, and with one that stops reading (the
daemon's anonymous resident memory before and after each run).
"""
import argparse, json, multiprocessing as mp, os, shutil, signal, socket, subprocess, tempfile, time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s, s.makefile("rb")


def appender(path, client, per_request, seconds, counter, stop_at, risky=False):
    s, f = connect(path)
    n = 0
    seq = 0
    now = int(time.time() * 1000)
    while time.time() < stop_at:
        events = []
        for _ in range(per_request):
            seq += 1
            if risky:
                # Odd: patient j of this request cancels 20 days ago (enters cancelled_not_rebooked);
                # even: patient j of the previous request books 19 days ago (leaves it).
                request, j = divmod(seq - 1, per_request)
                cancel = j % 2 == 0
                owner = request if cancel else request - 1
                if owner < 0:
                    owner, cancel = request, True
                kind = "cancellation" if cancel else "booking"
                at = now - (20 if cancel else 19) * 86_400_000
                events.append({"id": f"r{client}-{seq}", "type": kind, "subject": f"r{client}-{owner}-{j // 2}", "at": at})
                continue
            events.append({"id": f"c{client}-{seq}", "type": "web_visit", "subject": f"s{client}-{seq % 1000}",
                           "at": 1_760_000_000_000 + seq})
        s.sendall((json.dumps({"op": "append", "events": events}) + "\n").encode())
        answer = json.loads(f.readline())
        assert answer["ok"], answer
        n += per_request
    with counter.get_lock():
        counter.value += n


def ingest(path, clients, per_request, seconds, risky=False, base=0):
    counter = mp.Value("q", 0)
    start = time.time() + 0.5
    stop_at = start + seconds
    procs = [mp.Process(target=appender, args=(path, base + c + per_request * 1000, per_request, seconds, counter, stop_at, risky))
             for c in range(clients)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return counter.value / seconds  # every client stops at stop_at


def handoff_latency(path, seconds):
    s, f = connect(path)
    lat = []
    stop_at = time.time() + seconds
    line = (json.dumps({"op": "handoff", "id": "s1-1"}) + "\n").encode()
    while time.time() < stop_at:
        t0 = time.perf_counter()
        s.sendall(line)
        f.readline()
        lat.append(time.perf_counter() - t0)
    lat.sort()
    return lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6, len(lat)


def signal_reader(path, consumer, counter, stop_at):
    """Reads a consumer's signal stream until stop_at, counting the signals."""
    s, f = connect(path)
    s.sendall((json.dumps({"op": "signals", "consumer": consumer}) + "\n").encode())
    assert json.loads(f.readline())["ok"]
    s.settimeout(0.5)
    n = 0
    while time.time() < stop_at:
        try:
            line = f.readline()
        except (socket.timeout, OSError):
            continue
        if not line:
            break
        n += 1
    with counter.get_lock():
        counter.value += n


def rss_kib(pid):
    """Anonymous resident memory (the heap, not the store's mapped file)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def signals_main(path, daemon, seconds):
    def stats():
        s, f = connect(path)
        s.sendall(b'{"op":"stats"}\n')
        return json.loads(f.readline())

    r0 = ingest(path, 16, 100, seconds, risky=True, base=0)
    print(json.dumps({"scenario": "socket_ingest_signals", "events_per_request": 100, "consumer": "none",
                      "events_per_s": int(r0), "signals": stats().get("last_signal_seq")}))
    if stats().get("last_signal_seq") is None:
        return  # a journeyd without signals: only the first figure compares
    read = mp.Value("q", 0)
    reader = mp.Process(target=signal_reader, args=(path, "reader", read, time.time() + seconds + 3))
    reader.start()
    before = rss_kib(daemon.pid)
    r1 = ingest(path, 16, 100, seconds, risky=True, base=100)
    after = rss_kib(daemon.pid)
    reader.join()
    print(json.dumps({"scenario": "socket_ingest_signals", "events_per_request": 100, "consumer": "reading",
                      "events_per_s": int(r1), "signals": stats().get("last_signal_seq"), "signals_read": read.value,
                      "daemon_rss_anon_kib_before": before, "daemon_rss_anon_kib_after": after}))
    stalled, _ = connect(path)
    stalled.sendall(b'{"op":"signals","consumer":"stalled"}\n')  # and never read
    before = rss_kib(daemon.pid)
    r2 = ingest(path, 16, 100, seconds, risky=True, base=200)
    after = rss_kib(daemon.pid)
    print(json.dumps({"scenario": "socket_ingest_signals", "events_per_request": 100, "consumer": "stalled",
                      "events_per_s": int(r2), "signals": stats().get("last_signal_seq"),
                      "daemon_rss_anon_kib_before": before, "daemon_rss_anon_kib_after": after}))
    stalled.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--journeyd", default=".build/release/journeyd")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--signals", action="store_true", help="measure the cost of signals instead")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="journey-socket-bench-")
    path = os.path.join(d, "journeyd.sock")
    daemon = subprocess.Popen([a.journeyd, "serve", "--data", d], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        if a.signals:
            signals_main(path, daemon, a.seconds)
            return
        r1 = ingest(path, 16, 1, a.seconds)
        print(json.dumps({"scenario": "socket_ingest", "clients": 16, "events_per_request": 1, "events_per_s": int(r1)}))
        r100 = ingest(path, 16, 100, a.seconds)
        print(json.dumps({"scenario": "socket_ingest", "clients": 16, "events_per_request": 100, "events_per_s": int(r100)}))
        counter = mp.Value("q", 0)
        stop_at = time.time() + a.seconds
        procs = [mp.Process(target=appender, args=(path, 9000 + c, 10, a.seconds, counter, stop_at)) for c in range(8)]
        for p in procs:
            p.start()
        p50, p99, n = handoff_latency(path, a.seconds * 0.9)
        for p in procs:
            p.join()
        print(json.dumps({"scenario": "handoff_socket_under_appends", "p50_us": round(p50, 1), "p99_us": round(p99, 1),
                          "requests": n, "concurrent_append_events_per_s": int(counter.value / a.seconds)}))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
