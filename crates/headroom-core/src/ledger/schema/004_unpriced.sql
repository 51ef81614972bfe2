-- 4: models whose responses had no known rate under the prices in force (`unpriced`).
CREATE TABLE unpriced_models (
    model INTEGER PRIMARY KEY REFERENCES models (id),
    reason TEXT NOT NULL
);
