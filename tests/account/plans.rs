//! The account on today's plans, on loopback: what `GET /api/oauth/usage` answers for an
//! Ultra login (no `five_hour` at all), a Pro login between sessions (no `five_hour` until the
//! next prompt), an Enterprise seat (spend, no percentages; its login names no plan, so the
//! profile, `GET /api/oauth/profile`, does) and a Max account whose Extra Usage spend is past
//! its cap; and Claude Code's cached answer in its `.claude.json`.

use serde_json::{json, Value};

use super::{authorized, now_ms, Home, Response, Server};

/// Far enough ahead that no window is ever dropped as reset while a test runs.
const FAR: &str = "2099-01-05T09:00:00.000000+00:00";

/// One account on one of today's plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanAccount {
    /// The old Max 20x, Ultra since 2026-10-30: a weekly limit, no 5-hour one. Its login is
    /// from before the rename (`max` with the 20x tier).
    Ultra,
    /// Pro after its session's reset: the weekly window only; Extra Usage turned off by the
    /// user (`user_disabled`).
    IdlePro,
    /// An Enterprise (usage-based) seat: spend against the organization's limit, no window.
    Enterprise,
    /// Max with a session running and Extra Usage spend past its cap, which the
    /// organization's spending cap turned off (`org_spend_cap_reached`).
    OverCap,
}

impl PlanAccount {
    /// The usage endpoint's answer.
    pub fn usage(self) -> Value {
        match self {
            PlanAccount::Ultra => json!({
                "seven_day": { "utilization": 18.0, "resets_at": FAR },
                "seven_day_opus": null,
                "limits": [
                    { "kind": "weekly_all", "percent": 18, "resets_at": FAR }
                ],
                "extra_usage": { "is_enabled": true, "monthly_limit": 5000, "used_credits": 1200, "currency": "USD" }
            }),
            PlanAccount::IdlePro => json!({
                "seven_day": { "utilization": 35.0, "resets_at": FAR },
                "extra_usage": { "is_enabled": false, "monthly_limit": null, "used_credits": null, "disabled_reason": "user_disabled" }
            }),
            PlanAccount::Enterprise => json!({
                "limits": [],
                "five_hour": null,
                "seven_day": null,
                "spend": {
                    "enabled": true, "percent": 4, "severity": "normal",
                    "used": { "amount_minor": 4200, "currency": "USD", "exponent": 2 },
                    "limit": { "amount_minor": 100000, "currency": "USD", "exponent": 2 }
                }
            }),
            PlanAccount::OverCap => json!({
                "five_hour": { "utilization": 40.0, "resets_at": FAR },
                "seven_day": { "utilization": 22.0, "resets_at": FAR },
                "extra_usage": { "is_enabled": false, "monthly_limit": 5000, "used_credits": 6250, "currency": "USD", "disabled_reason": "org_spend_cap_reached" }
            }),
        }
    }

    /// Anthropic's profile of the login.
    pub fn profile(self) -> Value {
        let (kind, tier) = match self {
            PlanAccount::Ultra => ("claude_max", "default_claude_max_20x"),
            PlanAccount::IdlePro => ("claude_pro", "default_claude_pro"),
            PlanAccount::Enterprise => ("claude_enterprise", "enterprise_usage_based"),
            PlanAccount::OverCap => ("claude_max", "default_claude_max_5x"),
        };
        json!({
            "account": { "uuid": "1a2b3c4d-0000-4000-8000-000000000001", "email": "user@example.com" },
            "organization": {
                "uuid": "5e6f7a8b-0000-4000-8000-000000000002",
                "organization_type": kind,
                "rate_limit_tier": tier,
                "billing_type": "stripe_subscription"
            }
        })
    }

    /// A user's folders with this account's Claude Code login.
    pub fn home(self) -> Home {
        let home = Home::bare();
        let (kind, tier) = match self {
            PlanAccount::Ultra => (Some("max"), Some("default_claude_max_20x")),
            PlanAccount::IdlePro => (Some("pro"), Some("default_claude_pro")),
            // The login names no plan Headroom knows: the profile does.
            PlanAccount::Enterprise => (None, None),
            PlanAccount::OverCap => (Some("max"), Some("default_claude_max_5x")),
        };
        home.write_login(
            now_ms() + 8 * 3_600_000,
            &["user:inference", "user:profile"],
            kind,
            tier,
        );
        home
    }

    /// The loopback account: the usage endpoint and the profile, for the test token only.
    pub fn server(self) -> Server {
        let usage = self.usage().to_string();
        let profile = self.profile().to_string();
        Server::start(move |r, _| {
            if !authorized(r) {
                return Response::json(401, r#"{"error":{"type":"authentication_error"}}"#);
            }
            match r.path.as_str() {
                "/api/oauth/usage" => Response::json(200, usage.clone()),
                "/api/oauth/profile" => Response::json(200, profile.clone()),
                _ => Response::not_found(),
            }
        })
    }
}

/// Claude Code's account file with its cached usage answer, fetched at `fetched_at_ms`: the
/// whole usage body under `utilization`, beside the rest of Claude Code's state.
pub fn write_cached_usage(home: &Home, fetched_at_ms: i64, usage: &Value) {
    let file = json!({
        "numStartups": 12,
        "oauthAccount": { "accountUuid": "1a2b3c4d-0000-4000-8000-000000000001", "emailAddress": "user@example.com" },
        "cachedUsageUtilization": {
            "fetchedAtMs": fetched_at_ms,
            "accountUuid": "1a2b3c4d-0000-4000-8000-000000000001",
            "utilization": usage
        },
        "projects": {}
    });
    std::fs::write(
        home.claude_dir().join(".claude.json"),
        serde_json::to_vec_pretty(&file).unwrap(),
    )
    .unwrap();
}
