-- Patients (SPEC §3.6) by acquisition channel over [FROM, TO), at as_of = TO − 1.
WITH e AS (SELECT * FROM evc WHERE "at" < {TO}),
cs AS (SELECT DISTINCT c FROM e),
ft AS (
  SELECT c, channel AS grp FROM e
  WHERE type NOT IN ('identify', 'unlink', 'eligibility', 'consent', 'handoff')
  QUALIFY ROW_NUMBER() OVER (PARTITION BY c ORDER BY "at", id) = 1
),
v AS (
  SELECT c, MIN("at") AS first_visit, MAX("at") AS last_visit,
    COUNT(*) FILTER (WHERE "at" >= {FROM}) AS visits_in,
    COALESCE(SUM(amount) FILTER (WHERE "at" >= {FROM}), 0) AS revenue_in,
    COUNT(*) FILTER (WHERE "at" >= {FROM} - 31536000000 AND "at" < {FROM}) AS before_n
  FROM e WHERE type = 'visit' GROUP BY c
),
rf AS (SELECT DISTINCT c FROM e WHERE type = 'referral' AND referrer IS NOT NULL)
SELECT ft.grp,
  COUNT(*) FILTER (WHERE v.first_visit >= {FROM}) AS new,
  COUNT(*) FILTER (WHERE v.first_visit >= {FROM} AND rf.c IS NOT NULL) AS referred_new,
  COUNT(*) FILTER (WHERE v.before_n > 0) AS active_at_start,
  COUNT(*) FILTER (WHERE v.before_n > 0 AND v.visits_in > 0) AS retained,
  COUNT(*) FILTER (WHERE ({TO} - 1) - v.last_visit > 31536000000) AS lapsed,
  COALESCE(SUM(v.visits_in), 0) AS visits,
  COALESCE(SUM(v.revenue_in), 0) AS revenue
FROM cs LEFT JOIN ft ON ft.c = cs.c LEFT JOIN v ON v.c = cs.c LEFT JOIN rf ON rf.c = cs.c
GROUP BY ft.grp
