//! The account's [`Plan`], from what Claude Code's login says (`subscriptionType`,
//! `rateLimitTier`) or, when it says nothing Headroom knows, from Anthropic's profile
//! (`GET /api/oauth/profile`: `organization.organization_type`, `organization.rate_limit_tier`).
//!
//! The codes seen in public code and answers: `subscriptionType` `pro`, `max`, `team`,
//! `enterprise`; `organization_type` `claude_pro`, `claude_max`, `claude_team`,
//! `claude_enterprise`; tiers like `default_claude_max_5x` and `default_claude_max_20x`. Since
//! 2026-10-30 the old Max 20x plan is Ultra: a login from before the rename still says `max`
//! with the 20x tier, so the tier decides between Max and Ultra. A Team seat can carry a Max
//! tier; the type wins over the tier.
//!
//! The plan is kept in the ledger's meta ([`META_PLAN`]) when a poll reads the login, so the
//! snapshot built with no network (the tray's redraws, `--offline`) names it without reading
//! the credentials again.

use serde_json::Value;

use crate::ledger::Ledger;
use crate::snapshot::Plan;

/// Ledger meta key of the plan last read from the login or the profile ([`Plan::as_str`]).
pub(super) const META_PLAN: &str = "account.plan";
/// Ledger meta key prefix: the profile was asked for this token's fingerprint already.
pub(super) const META_PROFILE_ASKED: &str = "account.plan.profile_asked";

/// The plan of a login's or profile's codes; either may be missing. Case and the `claude_`
/// prefix do not matter.
pub fn plan_from_codes(kind: Option<&str>, tier: Option<&str>) -> Plan {
    let norm = |s: Option<&str>| {
        s.map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
    };
    let kind = norm(kind);
    let tier = norm(tier).unwrap_or_default();
    let twenty_x = tier.contains("20x") || tier.contains("ultra");
    let kind = kind
        .as_deref()
        .map(|k| k.strip_prefix("claude_").unwrap_or(k));
    match kind {
        Some(k) if k.contains("enterprise") => Plan::Enterprise,
        Some(k) if k.contains("team") => Plan::Team,
        Some(k) if k.contains("ultra") => Plan::Ultra,
        Some(k) if k.contains("max") => {
            if twenty_x {
                Plan::Ultra
            } else {
                Plan::Max
            }
        }
        Some(k) if k.contains("pro") => Plan::Pro,
        _ if tier.contains("enterprise") => Plan::Enterprise,
        _ if twenty_x => Plan::Ultra,
        _ if tier.contains("max") => Plan::Max,
        _ if tier.contains("pro") => Plan::Pro,
        _ => Plan::Unknown,
    }
}

/// The plan the profile response names (`organization.organization_type`, with
/// `organization.rate_limit_tier` or `organization.seat_tier`); `Unknown` for any other body.
pub fn plan_from_profile(body: &[u8]) -> Plan {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Plan::Unknown;
    };
    let org = value.get("organization");
    let text = |key: &str| org.and_then(|o| o.get(key)).and_then(Value::as_str);
    let plan = plan_from_codes(text("organization_type"), text("rate_limit_tier"));
    if plan == Plan::Unknown {
        plan_from_codes(None, text("seat_tier"))
    } else {
        plan
    }
}

/// The plan on record in the ledger; `Unknown` when none (or the meta cannot be read: the
/// plan is a label, never worth failing a snapshot for).
pub(super) fn recorded(ledger: &Ledger) -> Plan {
    ledger
        .meta(META_PLAN)
        .ok()
        .flatten()
        .map_or(Plan::Unknown, |s| Plan::parse(&s))
}

/// Records the plan, writing only when it changed. A failure (a ledger busy with another
/// process's write) is only a debug line: the plan is a label, and the next poll writes it.
pub(super) fn remember(ledger: &Ledger, plan: Plan) {
    if plan == Plan::Unknown || recorded(ledger) == plan {
        return;
    }
    if let Err(e) = ledger.set_meta(META_PLAN, plan.as_str()) {
        tracing::debug!("cannot remember the plan: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_names_the_plan_and_the_old_max_20x_is_ultra() {
        for (kind, tier, plan) in [
            (Some("pro"), None, Plan::Pro),
            (Some("max"), Some("default_claude_max_5x"), Plan::Max),
            (Some("max"), Some("default_claude_max_20x"), Plan::Ultra),
            (Some("ultra"), None, Plan::Ultra),
            (
                Some("claude_ultra"),
                Some("default_claude_ultra"),
                Plan::Ultra,
            ),
            (Some("team"), Some("default_claude_max_20x"), Plan::Team),
            (
                Some("claude_team"),
                Some("default_claude_max_5x"),
                Plan::Team,
            ),
            (Some("Enterprise"), None, Plan::Enterprise),
            (None, Some("default_claude_max_20x"), Plan::Ultra),
            (None, Some("default_claude_max_5x"), Plan::Max),
            (None, Some("enterprise_usage_based"), Plan::Enterprise),
            (Some(""), None, Plan::Unknown),
            (Some("free"), Some("default_claude_ai"), Plan::Unknown),
            (None, None, Plan::Unknown),
        ] {
            assert_eq!(plan_from_codes(kind, tier), plan, "{kind:?} {tier:?}");
        }
    }

    #[test]
    fn the_profile_names_the_plan() {
        let profile = |org: &str| format!(r#"{{"account":{{"uuid":"a"}},"organization":{org}}}"#);
        for (org, plan) in [
            (
                r#"{"organization_type":"claude_max","rate_limit_tier":"default_claude_max_5x"}"#,
                Plan::Max,
            ),
            (
                r#"{"organization_type":"claude_max","rate_limit_tier":"default_claude_max_20x"}"#,
                Plan::Ultra,
            ),
            (
                r#"{"organization_type":"claude_enterprise","seat_tier":"enterprise_usage_based"}"#,
                Plan::Enterprise,
            ),
            (
                r#"{"seat_tier":"enterprise_usage_based"}"#,
                Plan::Enterprise,
            ),
            (r#"{"organization_type":"claude_team"}"#, Plan::Team),
            (r#"{"organization_type":42}"#, Plan::Unknown),
            ("null", Plan::Unknown),
        ] {
            assert_eq!(plan_from_profile(profile(org).as_bytes()), plan, "{org}");
        }
        assert_eq!(plan_from_profile(b"<html>"), Plan::Unknown);
    }

    #[test]
    fn ids_read_back() {
        for plan in [
            Plan::Pro,
            Plan::Max,
            Plan::Ultra,
            Plan::Team,
            Plan::Enterprise,
            Plan::Unknown,
        ] {
            assert_eq!(Plan::parse(plan.as_str()), plan);
        }
        assert_eq!(Plan::parse("max_20x"), Plan::Unknown);
    }
}
