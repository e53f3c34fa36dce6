-- Loads an NDJSON file of events into SQLite's table ev (the schema funnel.sql reads).
-- Run by peers.py with the sqlite3 command-line shell; {FILE} is the NDJSON path.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE raw(line TEXT);
-- One line per row: the column separator (0x1F) never occurs in JSON text.
.separator "\037" "\n"
.import {FILE} raw
CREATE TABLE ev AS
SELECT
  json_extract(line, '$.id') AS id,
  json_extract(line, '$.type') AS type,
  json_extract(line, '$.subject') AS subject,
  CASE WHEN json_type(line, '$.at') = 'integer' THEN json_extract(line, '$.at')
       ELSE unixepoch(substr(json_extract(line, '$.at'), 1, 19)) * 1000
            + CAST(substr(json_extract(line, '$.at'), 21, 3) AS INTEGER) END AS at,
  json_extract(line, '$.at') AS at_text,
  COALESCE(json_extract(line, '$.channel'),
    CASE json_extract(line, '$.type')
      WHEN 'search_hit' THEN 'search'
      WHEN 'web_visit' THEN 'web' WHEN 'form' THEN 'web' WHEN 'booking' THEN 'web'
      WHEN 'call' THEN 'phone' WHEN 'cancellation' THEN 'phone'
      WHEN 'chat' THEN 'chat'
      WHEN 'handoff' THEN COALESCE(json_extract(line, '$.to_channel'), 'chat')
      WHEN 'message_sent' THEN 'email' WHEN 'message_opened' THEN 'email'
      WHEN 'no_show' THEN 'in_person' WHEN 'visit' THEN 'in_person'
      WHEN 'referral' THEN 'referral'
    END) AS channel,
  json_extract(line, '$.direction') AS direction,
  json_extract(line, '$.patient') AS patient
FROM raw;
DROP TABLE raw;
.mode csv
-- Times as text must be the canonical UTC form with milliseconds, which the arithmetic above reads.
SELECT 'bad_time', COUNT(*) FROM ev
WHERE typeof(at_text) = 'text' AND at_text NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z';
