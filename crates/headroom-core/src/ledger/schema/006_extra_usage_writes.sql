-- 6: Extra Usage writes (`account::overage`): what was asked, the requests sent (no
-- organization, no token), what the account said after, the error. At most 500 rows.
CREATE TABLE extra_usage_writes (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    action TEXT NOT NULL,
    asked TEXT NOT NULL,
    requests TEXT NOT NULL,
    outcome TEXT NOT NULL,
    account_after TEXT,
    error TEXT
);
