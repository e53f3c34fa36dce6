-- Referrals (SPEC §3.6) at AS_OF: per referring cluster (its canonical id), how many clusters it
-- referred, how many of those visited, and their lifetime value.
WITH e AS (SELECT * FROM evc WHERE "at" <= {AS_OF}),
rf AS (
  SELECT c, referrer FROM e WHERE type = 'referral' AND referrer IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY c ORDER BY "at", id) = 1
),
rfc AS (SELECT rf.c, COALESCE(canon.c, rf.referrer) AS r FROM rf LEFT JOIN canon ON canon.node = rf.referrer),
val AS (
  SELECT c, COUNT(*) FILTER (WHERE type = 'visit') AS visits,
    COALESCE(SUM(amount) FILTER (WHERE type = 'visit'), 0) AS ltv
  FROM e GROUP BY c
)
SELECT rfc.r, COUNT(*) AS referred, COUNT(*) FILTER (WHERE val.visits >= 1) AS converted,
  COALESCE(SUM(val.ltv), 0) AS revenue
FROM rfc LEFT JOIN val ON val.c = rfc.c
WHERE rfc.c <> rfc.r
GROUP BY rfc.r
