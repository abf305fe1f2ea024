-- name: time_to_half_engagement
-- title: Time to half of final engagement
-- description: Hours from posting until a post reached half of its latest engagement, interpolated linearly between the two snapshots around the crossing. upper_bound = true when the first snapshot was already past half (the time is then at most that age).
-- param: platform text = NULL       | only this platform
-- param: limit int = 100            | most engaged posts first
WITH s AS (
  SELECT s.post_id, s.downloaded_at, s.engagement, d.platform, d.posted_at,
         last_value(s.engagement) OVER (PARTITION BY s.post_id ORDER BY s.downloaded_at
             ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS final_engagement,
         lag(s.engagement) OVER (PARTITION BY s.post_id ORDER BY s.downloaded_at) AS prev_e,
         lag(s.downloaded_at) OVER (PARTITION BY s.post_id ORDER BY s.downloaded_at) AS prev_t
  FROM snapshots s JOIN post_dim d USING (post_id)
  WHERE d.posted_at IS NOT NULL AND s.engagement IS NOT NULL AND NOT s.captured_before_post
    AND ($platform IS NULL OR d.platform = $platform)
), crossing AS (
  SELECT post_id, platform, posted_at, final_engagement,
         arg_min(CASE WHEN prev_t IS NULL OR prev_e IS NULL THEN downloaded_at
                      ELSE prev_t + to_microseconds(CAST(epoch_us(downloaded_at - prev_t)
                           * (final_engagement / 2.0 - prev_e) / nullif(engagement - prev_e, 0) AS BIGINT)) END,
                 downloaded_at) AS half_at,
         arg_min(prev_t IS NULL, downloaded_at) AS upper_bound
  FROM s
  WHERE final_engagement > 0 AND engagement >= final_engagement / 2.0
  GROUP BY ALL
)
SELECT post_id, platform, posted_at, final_engagement,
       round((epoch(half_at) - epoch(posted_at)) / 3600.0, 2) AS hours_to_half, upper_bound
FROM crossing
ORDER BY final_engagement DESC, post_id
LIMIT $limit
