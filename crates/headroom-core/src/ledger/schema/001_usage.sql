-- 1: the first release.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE models (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    session TEXT NOT NULL,
    cwd TEXT,
    UNIQUE (project, session)
);
CREATE TABLE files (
    path TEXT PRIMARY KEY,
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    head_hash INTEGER NOT NULL,
    bad_lines INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE key_sets (bucket INTEGER PRIMARY KEY, keys BLOB NOT NULL);
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    key INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    model INTEGER NOT NULL REFERENCES models (id),
    session INTEGER NOT NULL REFERENCES sessions (id),
    input INTEGER NOT NULL,
    output INTEGER NOT NULL,
    cache_write INTEGER NOT NULL,
    cache_write_5m INTEGER NOT NULL,
    cache_write_1h INTEGER NOT NULL,
    cache_read INTEGER NOT NULL,
    cost_usd REAL,
    calc_cost REAL NOT NULL
);
CREATE TABLE quarter_hours (
    start INTEGER NOT NULL,
    model INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    input INTEGER NOT NULL,
    output INTEGER NOT NULL,
    cache_write INTEGER NOT NULL,
    cache_read INTEGER NOT NULL,
    calc_cost REAL NOT NULL,
    auto_cost REAL NOT NULL,
    display_cost REAL NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    PRIMARY KEY (start, model)
) WITHOUT ROWID;
CREATE TABLE session_totals (
    session INTEGER NOT NULL,
    model INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    input INTEGER NOT NULL,
    output INTEGER NOT NULL,
    cache_write INTEGER NOT NULL,
    cache_read INTEGER NOT NULL,
    calc_cost REAL NOT NULL,
    auto_cost REAL NOT NULL,
    display_cost REAL NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    PRIMARY KEY (session, model)
) WITHOUT ROWID;
