-- 3: account usage (`account::store`): readings of the statusline feed, the OAuth usage
-- endpoint and claude.ai, and each source's polling state (cool-down shared by processes).
CREATE TABLE account_samples (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    observed_ms INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL,
    digest INTEGER NOT NULL
);
CREATE INDEX account_samples_by_source ON account_samples (source, seen_ms);
CREATE TABLE account_windows (
    sample INTEGER NOT NULL REFERENCES account_samples (id) ON DELETE CASCADE,
    window_id TEXT NOT NULL,
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    utilization REAL NOT NULL,
    resets_at_ms INTEGER,
    PRIMARY KEY (sample, window_id)
) WITHOUT ROWID;
CREATE INDEX account_windows_by_window ON account_windows (window_id, sample);
CREATE TABLE account_extra_usage (
    sample INTEGER PRIMARY KEY REFERENCES account_samples (id) ON DELETE CASCADE,
    enabled INTEGER,
    monthly_limit REAL,
    used REAL,
    currency TEXT NOT NULL,
    balance REAL,
    disabled_reason TEXT
);
CREATE TABLE account_poll_state (
    source TEXT PRIMARY KEY,
    last_attempt_ms INTEGER,
    last_success_ms INTEGER,
    next_poll_ms INTEGER,
    cooldown_until_ms INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    last_failure TEXT,
    last_error TEXT,
    credential_fingerprint INTEGER
) WITHOUT ROWID;
