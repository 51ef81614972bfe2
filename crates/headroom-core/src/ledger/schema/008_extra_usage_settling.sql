-- 8: what an Extra Usage write asked, as data (so that a later reading of the account can
-- settle a write whose outcome was not known), in which currency, and for which organization
-- (its name, never its UUID). Older rows keep NULL: they were settled when written.
ALTER TABLE extra_usage_writes ADD COLUMN change_json TEXT;
ALTER TABLE extra_usage_writes ADD COLUMN currency TEXT;
ALTER TABLE extra_usage_writes ADD COLUMN organization TEXT;
