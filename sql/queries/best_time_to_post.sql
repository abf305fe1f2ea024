-- name: best_time_to_post
-- title: Best hour and weekday to post
-- description: Posts grouped by the weekday and hour they were published (in the given time zone), with the median engagement they had reached at the given age (last snapshot at or before it). Only posts observed at least that old count.
-- param: platform text = NULL       | only this platform
-- param: age_hours int = 24         | compare engagement at this age
-- param: tz text = 'UTC'            | time zone for weekday and hour
-- param: min_posts int = 1          | hide slots with fewer posts
WITH targets AS (
  SELECT post_id, platform, posted_at, posted_at + to_hours($age_hours) AS at_ts
  FROM post_dim WHERE posted_at IS NOT NULL AND ($platform IS NULL OR platform = $platform)
), last_seen AS (
  SELECT post_id, max(downloaded_at) AS last_at FROM snapshots GROUP BY post_id
), observed AS (
  SELECT t.*, s.engagement
  FROM targets t ASOF JOIN (SELECT * FROM snapshots WHERE NOT captured_before_post) s
    ON t.post_id = s.post_id AND t.at_ts >= s.downloaded_at
  JOIN last_seen l ON l.post_id = t.post_id
  WHERE l.last_at >= t.at_ts
)
SELECT dayname(timezone($tz, posted_at)) AS weekday, isodow(timezone($tz, posted_at)) AS weekday_no,
       hour(timezone($tz, posted_at)) AS hour, count(*) AS posts,
       median(engagement) AS median_engagement, round(avg(engagement), 1) AS avg_engagement
FROM observed
GROUP BY ALL HAVING count(*) >= $min_posts
ORDER BY median_engagement DESC NULLS LAST, posts DESC
