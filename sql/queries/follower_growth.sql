-- name: follower_growth
-- title: Follower growth
-- description: Followers at the end of each day, week (from Monday) or month in the workspace's time zone, and the followers gained, from profile snapshots; per account (default), workspace, tag (profile tags) or profile. Without since: the last 30 days of the snapshots there are.
-- param: period text = 'day'        | day, week or month
-- param: by text = 'account'        | account, workspace, tag or profile
-- param: workspace text = NULL      | only this workspace (name or id)
-- param: account text = NULL        | only this account (username or id)
-- param: tag text = NULL            | only profiles with this tag
-- param: since date = NULL          | first day (default: 29 days before the latest snapshot)
-- param: until date = NULL          | last day, inclusive (default: the latest snapshot's day)
WITH checked AS (
  SELECT CASE WHEN $period IN ('day', 'week', 'month') THEN CAST($period AS VARCHAR)
              ELSE error('period must be day, week or month, not ' || coalesce($period, 'NULL')) END AS period,
         CASE WHEN $by IN ('account', 'workspace', 'tag', 'profile') THEN CAST($by AS VARCHAR)
              ELSE error('by must be account, workspace, tag or profile, not ' || coalesce($by, 'NULL')) END AS by_
), snaps AS (
  SELECT s.profile_id, s.captured_at, s.follower_count, s.following_count, s.post_count, s.view_count,
         pr.platform, pr.username, a.id AS account_id, a.username AS account_username,
         w.id AS workspace_id, w.name AS workspace_name,
         CAST(timezone(coalesce(w.timezone, 'UTC'), s.captured_at) AS DATE) AS local_day
  FROM profile_snapshots s JOIN profiles pr ON pr.id = s.profile_id
  LEFT JOIN accounts a ON a.id = pr.account_id
  LEFT JOIN workspaces w ON w.id = a.workspace_id
  WHERE ($workspace IS NULL OR w.name = $workspace OR w.id = $workspace)
    AND ($account IS NULL OR a.id = $account OR lower(a.username) = lower(ltrim($account, '@')))
    AND ($tag IS NULL OR EXISTS (SELECT 1 FROM profile_tags pt JOIN tags t ON t.id = pt.tag_id
                                 WHERE pt.profile_id = s.profile_id AND t.name = lower(ltrim($tag, '#'))))
), bounds AS (
  SELECT coalesce(CAST($since AS DATE), max(local_day) - 29) AS d0,
         coalesce(CAST($until AS DATE), max(local_day)) AS d1
  FROM snaps
), per_profile AS (
  SELECT profile_id, any_value(platform) AS platform, any_value(username) AS username,
         any_value(account_id) AS account_id, any_value(account_username) AS account_username,
         any_value(workspace_id) AS workspace_id, any_value(workspace_name) AS workspace_name,
         CAST(date_trunc(checked.period, local_day) AS DATE) AS period_start,
         arg_max(follower_count, captured_at) FILTER (WHERE follower_count IS NOT NULL) AS followers,
         arg_min(follower_count, captured_at) FILTER (WHERE follower_count IS NOT NULL) AS followers_first,
         arg_max(following_count, captured_at) FILTER (WHERE following_count IS NOT NULL) AS following,
         arg_max(post_count, captured_at) FILTER (WHERE post_count IS NOT NULL) AS posts,
         sum(view_count) AS views
  FROM snaps, checked
  GROUP BY profile_id, checked.period, CAST(date_trunc(checked.period, local_day) AS DATE)
), gained AS (
  SELECT *, followers - coalesce(lag(followers) OVER (PARTITION BY profile_id ORDER BY period_start),
                                 followers_first) AS followers_gained
  FROM per_profile
), keyed AS (
  SELECT g.*, CASE by_ WHEN 'account' THEN account_id WHEN 'workspace' THEN workspace_id ELSE profile_id END AS group_id,
         CASE by_ WHEN 'account' THEN '@' || account_username || ' (' || platform || ')'
                  WHEN 'workspace' THEN workspace_name
                  ELSE '@' || username || ' (' || platform || ')' END AS group_name
  FROM gained g, checked WHERE by_ <> 'tag'
  UNION ALL
  SELECT g.*, t.id, t.name
  FROM gained g JOIN profile_tags pt ON pt.profile_id = g.profile_id JOIN tags t ON t.id = pt.tag_id, checked
  WHERE by_ = 'tag'
)
SELECT k.period_start, k.group_name AS "group", count(DISTINCT k.profile_id) AS profiles,
       CAST(sum(k.followers) AS BIGINT) AS followers, CAST(sum(k.followers_gained) AS BIGINT) AS followers_gained,
       CAST(sum(k.following) AS BIGINT) AS following, CAST(sum(k.posts) AS BIGINT) AS posts,
       CAST(sum(k.views) AS BIGINT) AS views
FROM keyed k, bounds b, checked c
WHERE k.group_id IS NOT NULL
  AND k.period_start >= CAST(date_trunc(c.period, b.d0) AS DATE) AND k.period_start <= b.d1
GROUP BY k.period_start, k.group_id, k.group_name
ORDER BY "group", period_start
