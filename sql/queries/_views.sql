-- Helper views created in every analytics session (not a report). Tables of the store are
-- already visible unqualified as views over pg.public.*.
--
-- looks_rounded(v): a count rounded for display by the platform (1.4M, 14.5K, 1.2K): at least
-- 1,000 with at most three significant digits and at least two trailing zeros.
CREATE OR REPLACE MACRO looks_rounded(v) AS
  coalesce(CASE WHEN v >= 1000
                THEN v % CAST(10 ** greatest(floor(log10(v)) - 2, 2) AS BIGINT) = 0 END, false);

-- snapshots: data_downloads with the derived measures every report uses.
--   reactions  = total_reactions, else like_count (LinkedIn counts all reactions, others likes)
--   engagement = reactions + comments + shares + saves (NULL parts count 0; NULL when all are NULL)
--   is_rounded = one of the counts looks rounded (a flat rounded count says nothing about growth)
--   captured_before_post: captured before the post's posted_at; kept, but the growth curves,
--   post metrics and time-to-engagement reports leave such snapshots out
CREATE OR REPLACE VIEW snapshots AS
SELECT d.id AS snapshot_id, d.post_id, d.run_id, d.downloaded_at,
       coalesce(d.total_reactions, d.like_count) AS reactions,
       d.like_count AS likes, d.comment_count AS comments, d.share_count AS shares,
       d.view_count AS views, d.save_count AS saves, d.impression_count AS impressions,
       CASE WHEN coalesce(d.total_reactions, d.like_count, d.comment_count, d.share_count, d.save_count) IS NULL THEN NULL
            ELSE coalesce(d.total_reactions, d.like_count, 0) + coalesce(d.comment_count, 0)
                 + coalesce(d.share_count, 0) + coalesce(d.save_count, 0) END AS engagement,
       looks_rounded(d.total_reactions) OR looks_rounded(d.like_count) OR looks_rounded(d.comment_count)
         OR looks_rounded(d.share_count) OR looks_rounded(d.view_count) OR looks_rounded(d.save_count) AS is_rounded,
       d.captured_before_post
FROM data_downloads d;

-- post_dim: one row per post with its author, account, workspace and the author's followers.
-- A post belongs to the account that published it, else to the account linked to its author.
CREATE OR REPLACE VIEW post_dim AS
SELECT p.id AS post_id, p.platform, p.platform_post_id, p.url, p.author_username,
       p.author_profile_id, coalesce(p.account_id, pr.account_id) AS account_id,
       a.workspace_id, w.name AS workspace_name, p.posted_at, p.content_type,
       left(coalesce(p.text_content, ''), 80) AS text_preview, pr.follower_count AS author_followers
FROM posts p
LEFT JOIN profiles pr ON pr.id = p.author_profile_id
LEFT JOIN accounts a ON a.id = coalesce(p.account_id, pr.account_id)
LEFT JOIN workspaces w ON w.id = a.workspace_id;
