-- Segment (SPEC §3.6) at AS_OF: clusters in stage active or lapsed with at least 2 visits, with
-- their canonical id, visits and lifetime value.
WITH e AS (SELECT * FROM evc WHERE "at" <= {AS_OF}),
s AS (
  SELECT c, COUNT(*) FILTER (WHERE type = 'visit') AS visits,
    MAX("at") FILTER (WHERE type = 'visit') AS last_visit,
    COALESCE(SUM(amount) FILTER (WHERE type = 'visit'), 0) AS ltv
  FROM e GROUP BY c
)
SELECT s.c, s.visits, s.ltv,
  CASE WHEN {AS_OF} - s.last_visit > 31536000000 THEN 'lapsed' ELSE 'active' END AS stage
FROM s
WHERE s.visits >= 2
