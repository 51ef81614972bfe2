-- 2: alerts (`alerts::store`): the engine's state (one JSON row) and the alert history.
CREATE TABLE alert_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE alert_history (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    level TEXT NOT NULL,
    window TEXT,
    instance TEXT,
    threshold INTEGER,
    value REAL,
    resets_at_ms INTEGER,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    delivery TEXT NOT NULL
);
