-- 7: a source's last problem is kept as a value (`account::SourceError` as JSON: which
-- problem, with its facts), not as one front end's sentence: the pane and the CLI each word
-- it, with their own remedy, when they read it. The old sentence is dropped; the next poll
-- writes the value, and until then the failure kind alone is shown.
ALTER TABLE account_poll_state ADD COLUMN last_problem TEXT;
ALTER TABLE account_poll_state DROP COLUMN last_error;
