#!/usr/bin/env bash
# Run in a folder holding journeyd-base, journeyd-new (two release builds), ev1m.ndjson
# (`journeyd generate --events 1000000`) and ev1m-b.ndjson (reshape.py of it).
# Alternating pairs: import of each shape into an empty store, then `journeyd replay` of that store.
for pair in 1 2 3; do
  for shape in ev1m ev1m-b; do
    for b in base new; do
      rm -rf st-$b-$shape
      s=$(date +%s.%N); ./journeyd-$b import $shape.ndjson --data st-$b-$shape > /dev/null 2>&1; e=$(date +%s.%N)
      imp=$(echo "$e - $s" | bc)
      s=$(date +%s.%N); ./journeyd-$b replay --data st-$b-$shape > /dev/null 2>&1; e=$(date +%s.%N)
      rep=$(echo "$e - $s" | bc)
      echo "pair=$pair shape=$shape build=$b import_s=$imp replay_s=$rep"
    done
  done
done
