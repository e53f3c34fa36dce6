-- The default funnel of SPEC §3.4 (touch → inquiry → booking → visit, 30-day window, by the
-- channel of the entry event) over a table ev(id, type, subject, at, channel, direction, patient)
-- holding one row per event: `at` in epoch milliseconds, `channel` the effective channel (the
-- default by type applied). The same text runs on SQLite and DuckDB: no dialect-specific
-- functions; integer halving is written (x - x % 2) / 2 so that both dialects give an exact value.
-- Answers one row per (group, step): grp, step, count, median_ms.

-- Identity clusters: the connected components of the identify edges (subject — patient); each
-- cluster is named by its smallest id (any stable name will do: the funnel never shows it).
CREATE TEMP TABLE cl AS
WITH RECURSIVE
  edges(a, b) AS (
    SELECT subject, patient FROM ev WHERE type = 'identify'
    UNION
    SELECT patient, subject FROM ev WHERE type = 'identify'
  ),
  reach(node, other) AS (
    SELECT a, b FROM edges
    UNION
    SELECT r.node, e.b FROM reach r JOIN edges e ON e.a = r.other
  )
SELECT node, MIN(other) AS root
FROM (SELECT node, other FROM reach UNION ALL SELECT a, a FROM edges) x
GROUP BY node;

-- Each event with its cluster, its place in the cluster's timeline (at, then id as bytes), the
-- place of the first inquiry at or after it (the event that reached `touch` reaches `inquiry`
-- itself when it is one: a call is the touch and the inquiry at once), and of the next booking
-- and visit strictly after it.
CREATE TEMP TABLE tl AS
SELECT c, pos, "at", channel, is_touch,
  MIN(CASE WHEN is_inquiry THEN pos END) OVER here AS next_inquiry,
  MIN(CASE WHEN type = 'booking' THEN pos END) OVER w AS next_booking,
  MIN(CASE WHEN type = 'visit' THEN pos END) OVER w AS next_visit
FROM (
  SELECT COALESCE(cl.root, ev.subject) AS c, ev."at", ev.type, ev.channel,
    CASE WHEN ev.type IN ('identify', 'unlink', 'eligibility', 'consent', 'handoff') THEN 0 ELSE 1 END AS is_touch,
    CASE WHEN ev.type IN ('chat', 'form') OR (ev.type = 'call' AND COALESCE(ev.direction, 'in') <> 'out')
         THEN 1 ELSE 0 END = 1 AS is_inquiry,
    ROW_NUMBER() OVER (PARTITION BY COALESCE(cl.root, ev.subject) ORDER BY ev."at", ev.id) AS pos
  FROM ev LEFT JOIN cl ON cl.node = ev.subject
) t
WINDOW w AS (PARTITION BY c ORDER BY pos ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING),
       here AS (PARTITION BY c ORDER BY pos ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING);

CREATE INDEX tl_c_pos ON tl(c, pos);

-- Every touch starts an attempt. Step k is the earliest match after step k−1's event (at or
-- after it for `inquiry`, whose definition differs from `touch`; a booking or visit is never
-- the event that reached the step before it, so strictly after is the same there);
-- when that one is outside the window (at − entry.at > W) every later match is too, and the
-- attempt ends.
CREATE TEMP TABLE attempts AS
SELECT e.c, e.pos AS p1, e."at" AS a1, e.channel AS grp,
  s2.pos AS p2, s2."at" AS a2, s3.pos AS p3, s3."at" AS a3, s4.pos AS p4, s4."at" AS a4
FROM tl e
LEFT JOIN tl s2 ON s2.c = e.c AND s2.pos = e.next_inquiry AND s2."at" - e."at" <= {WINDOW_MS}
LEFT JOIN tl s3 ON s3.c = e.c AND s3.pos = s2.next_booking AND s3."at" - e."at" <= {WINDOW_MS}
LEFT JOIN tl s4 ON s4.c = e.c AND s4.pos = s3.next_visit AND s4."at" - e."at" <= {WINDOW_MS}
WHERE e.is_touch = 1;

-- The chosen attempt per cluster: furthest step, then the earliest furthest event, then the
-- earliest entry.
CREATE TEMP TABLE chosen AS
SELECT * FROM (
  SELECT a.*, ROW_NUMBER() OVER (
    PARTITION BY c
    ORDER BY (CASE WHEN p4 IS NOT NULL THEN 4 WHEN p3 IS NOT NULL THEN 3 WHEN p2 IS NOT NULL THEN 2 ELSE 1 END) DESC,
             COALESCE(p4, p3, p2, p1), p1
  ) AS rn
  FROM attempts a
) x WHERE rn = 1;

WITH
  counts AS (
    SELECT grp, 1 AS step, COUNT(*) AS n FROM chosen GROUP BY grp
    UNION ALL SELECT grp, 2, COUNT(p2) FROM chosen GROUP BY grp
    UNION ALL SELECT grp, 3, COUNT(p3) FROM chosen GROUP BY grp
    UNION ALL SELECT grp, 4, COUNT(p4) FROM chosen GROUP BY grp
  ),
  gaps AS (
    SELECT grp, 2 AS step, a2 - a1 AS g FROM chosen WHERE p2 IS NOT NULL
    UNION ALL SELECT grp, 3, a3 - a2 FROM chosen WHERE p3 IS NOT NULL
    UNION ALL SELECT grp, 4, a4 - a3 FROM chosen WHERE p4 IS NOT NULL
  ),
  ranked AS (
    SELECT grp, step, g,
      ROW_NUMBER() OVER (PARTITION BY grp, step ORDER BY g) AS r,
      COUNT(*) OVER (PARTITION BY grp, step) AS n
    FROM gaps
  ),
  -- The middle value (odd n) or the two middle values (even n).
  middle AS (
    SELECT grp, step, SUM(g) AS s, COUNT(*) AS m FROM ranked
    WHERE r = (n + 1 - (n + 1) % 2) / 2 OR r = (n + 2 - (n + 2) % 2) / 2
    GROUP BY grp, step
  )
SELECT c.grp, c.step, c.n,
  CASE WHEN m.m = 1 THEN m.s WHEN m.m = 2 THEN CAST((m.s - m.s % 2) / 2 AS BIGINT) END AS median_ms
FROM counts c LEFT JOIN middle m ON m.grp IS NOT DISTINCT FROM c.grp AND m.step = c.step
ORDER BY c.grp, c.step;
