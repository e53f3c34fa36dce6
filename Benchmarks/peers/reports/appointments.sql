-- Appointments (SPEC §3.6) by the booking's location over [FROM, TO): one row per group with the
-- counts; rates are derived from them. Over evc(…, c): the events with their cluster.
WITH e AS (SELECT * FROM evc WHERE "at" < {TO}),
bk AS (
  SELECT c, appointment, scheduled_for, location AS grp FROM e
  WHERE type = 'booking' AND appointment IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY c, appointment ORDER BY "at", id) = 1
),
oc AS (
  SELECT c, appointment, type AS outcome, "at" AS outcome_at, amount FROM e
  WHERE type IN ('visit', 'no_show', 'cancellation') AND appointment IS NOT NULL
  QUALIFY ROW_NUMBER() OVER (PARTITION BY c, appointment ORDER BY "at", id) = 1
),
ap AS (
  SELECT bk.c, bk.grp, oc.outcome, oc.outcome_at, oc.amount FROM bk
  LEFT JOIN oc ON oc.c = bk.c AND oc.appointment = bk.appointment
  WHERE bk.scheduled_for IS NOT NULL AND bk.scheduled_for >= {FROM} AND bk.scheduled_for < {TO}
),
rb AS (
  SELECT DISTINCT ap.c, ap.outcome_at FROM ap JOIN e b ON b.c = ap.c AND b.type = 'booking'
    AND b."at" > ap.outcome_at AND b."at" <= ap.outcome_at + 2592000000
  WHERE ap.outcome IN ('no_show', 'cancellation')
)
SELECT ap.grp,
  COUNT(*) AS appointments,
  COUNT(*) FILTER (WHERE outcome = 'visit') AS visited,
  COUNT(*) FILTER (WHERE outcome = 'no_show') AS no_show,
  COUNT(*) FILTER (WHERE outcome = 'cancellation') AS cancelled,
  COUNT(*) FILTER (WHERE outcome IS NULL) AS open,
  COUNT(*) FILTER (WHERE outcome IN ('no_show', 'cancellation') AND rb.c IS NOT NULL) AS rebooked,
  COALESCE(SUM(amount) FILTER (WHERE outcome = 'visit'), 0) AS revenue
FROM ap LEFT JOIN rb ON rb.c = ap.c AND rb.outcome_at = ap.outcome_at
GROUP BY ap.grp
