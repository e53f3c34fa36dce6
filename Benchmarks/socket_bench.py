#!/usr/bin/env python3
"""Socket ingest and handoff latency of `journeyd serve`, from separate client processes.

    python3 Benchmarks/socket_bench.py [--journeyd .build/release/journeyd] [--seconds 5]

Starts a daemon on a fresh directory (durable acks: fsync before every `ok`), then:
  1. 16 client processes append 1 event per request, for --seconds;
  2. 16 client processes append 100 events per request, for --seconds;
  3. handoff latency over the socket (p50/p99) from one client while 8 clients append.
Prints one JSON line per result. Clients are plain Python; on a 2-core machine they share the
CPU with the daemon, so these figures are a lower bound on what the daemon sustains.
"""
import argparse, json, multiprocessing as mp, os, shutil, signal, socket, subprocess, tempfile, time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s, s.makefile("rb")


def appender(path, client, per_request, seconds, counter, stop_at):
    s, f = connect(path)
    n = 0
    seq = 0
    while time.time() < stop_at:
        events = []
        for _ in range(per_request):
            seq += 1
            events.append({"id": f"c{client}-{seq}", "type": "web_visit", "subject": f"s{client}-{seq % 1000}",
                           "at": 1_760_000_000_000 + seq})
        s.sendall((json.dumps({"op": "append", "events": events}) + "\n").encode())
        answer = json.loads(f.readline())
        assert answer["ok"], answer
        n += per_request
    with counter.get_lock():
        counter.value += n


def ingest(path, clients, per_request, seconds):
    counter = mp.Value("q", 0)
    start = time.time() + 0.5
    stop_at = start + seconds
    procs = [mp.Process(target=appender, args=(path, c + per_request * 1000, per_request, seconds, counter, stop_at))
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--journeyd", default=".build/release/journeyd")
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="journey-socket-bench-")
    path = os.path.join(d, "journeyd.sock")
    daemon = subprocess.Popen([a.journeyd, "serve", "--data", d], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.05)
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
