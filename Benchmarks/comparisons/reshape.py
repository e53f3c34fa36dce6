#!/usr/bin/env python3
"""Reshapes a `journeyd generate` NDJSON file into a second data shape for side-by-side runs:
half the timestamps as epoch milliseconds, about 5% of the lines sent late (held back and
released in bursts), about 1% sent twice, and no attrs. Deterministic (seed 19).

    python3 Benchmarks/comparisons/reshape.py IN.ndjson OUT.ndjson
"""
import json, random, sys
from datetime import datetime

def main(src, dst):
    random.seed(19)
    out, late = [], []
    for i, line in enumerate(open(src)):
        e = json.loads(line)
        if i % 2 == 0:
            t = datetime.fromisoformat(e["at"].replace("Z", "+00:00"))
            e["at"] = int(t.timestamp() * 1000 + 0.5)
        e.pop("attrs", None)
        s = json.dumps(e, separators=(",", ":"))
        if random.random() < 0.05:
            late.append(s)
        else:
            out.append(s)
        if random.random() < 0.01:
            out.append(s)
        if len(late) > 2000 and random.random() < 0.01:
            out.extend(late)
            late = []
    out.extend(late)
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
