-- 5: responses that ran US-only (`inference_geo: "us"`), priced with the data-residency
-- multiplier; a reprice needs it per response. Responses stored before read as global: their
-- lines are not read again (Claude Code wrote no US-only field before 2026 anyway).
ALTER TABLE entries ADD COLUMN us_only INTEGER NOT NULL DEFAULT 0;
