-- Trends (SPEC §3.6): inquiries per calendar month (UTC) in [FROM, TO), by channel.
SELECT channel AS grp, strftime(date_trunc('month', make_timestamp("at" * 1000)), '%Y-%m') AS bucket, COUNT(*) AS n
FROM evc
WHERE "at" >= {FROM} AND "at" < {TO}
  AND (type IN ('chat', 'form') OR (type = 'call' AND COALESCE(direction, 'in') <> 'out'))
GROUP BY ALL
