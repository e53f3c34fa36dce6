-- Cohorts (SPEC §3.6) by first-visit month (UTC) for months starting in [FROM, TO): one row per
-- (month, k) with the clusters of the cohort that visited in its k-th month.
WITH e AS (SELECT c, "at" FROM evc WHERE "at" < {TO} AND type = 'visit'),
fv AS (SELECT c, date_trunc('month', make_timestamp(MIN("at") * 1000)) AS m FROM e GROUP BY c),
co AS (SELECT c, m FROM fv WHERE epoch_ms(m) >= {FROM} AND epoch_ms(m) < {TO}),
vm AS (SELECT DISTINCT c, date_trunc('month', make_timestamp("at" * 1000)) AS vm FROM e)
SELECT strftime(co.m, '%Y-%m') AS month, date_diff('month', co.m, vm.vm) AS k, COUNT(*) AS n
FROM co JOIN vm ON vm.c = co.c AND vm.vm >= co.m AND date_diff('month', co.m, vm.vm) < {PERIODS}
GROUP BY ALL
