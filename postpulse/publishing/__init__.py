"""Publishing: content items (drafts) with per-account variants, validation per platform, a media
library, scheduling, publishing through the action queue, and the content calendar."""
