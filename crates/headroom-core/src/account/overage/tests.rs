use std::path::{Path, PathBuf};

use serde_json::json;

use super::history::redact_request;
use super::*;
use crate::account::Secret;
use crate::snapshot::Source;

fn eu(enabled: Option<bool>, limit: Option<f64>, reason: Option<&str>) -> ExtraUsage {
    ExtraUsage {
        enabled,
        monthly_limit: limit,
        used: None,
        currency: "USD".into(),
        balance: None,
        disabled_reason: reason.map(str::to_owned),
        source: Source::Account,
        observed_at_ms: 0,
    }
}

fn cap(s: &str) -> CapChoice {
    CapChoice::Cap(Cap::parse(s).unwrap())
}

#[test]
fn the_confirmation_names_the_amount() {
    let c = confirmation(
        &Change::Enable(cap("50")),
        Some(&eu(Some(false), None, None)),
    );
    assert_eq!(
        c.text,
        "Turn on Extra Usage with a monthly cap of $50.00? Usage past your plan's limits is billed to your payment method at API rates, up to $50.00 a month."
    );
    assert_eq!(c.retype, None);
    assert!(!c.sets_up);
    let c = confirmation(
        &Change::SetCap(cap("75")),
        Some(&eu(Some(true), Some(50.0), None)),
    );
    assert!(
        c.text
            .starts_with("Change Extra Usage's monthly cap from $50.00 to $75.00?"),
        "{}",
        c.text
    );
    let c = confirmation(
        &Change::SetCap(cap("75")),
        Some(&eu(Some(false), None, None)),
    );
    assert!(
        c.text
            .starts_with("Turn on Extra Usage with a monthly cap of $75.00?"),
        "{}",
        c.text
    );
    let c = confirmation(&Change::Disable, None);
    assert!(c.text.starts_with("Turn off Extra Usage?"), "{}", c.text);
    let c = confirmation(
        &Change::Enable(cap("20")),
        Some(&eu(Some(false), None, Some(NOT_PROVISIONED))),
    );
    assert!(c.sets_up);
    assert!(c.text.contains("sets it up first"), "{}", c.text);
}

#[test]
fn big_caps_and_no_cap_need_the_amount_again() {
    let c = confirmation(&Change::Enable(cap("1000")), None);
    assert_eq!(c.retype, None, "$1,000 itself is not over $1,000");
    assert!(amount_confirmed(&c, ""));
    let c = confirmation(&Change::Enable(cap("1000.01")), None);
    assert_eq!(c.retype, Some(cap("1000.01")));
    assert_eq!(c.retype_hint.as_deref(), Some("type 1000.01 to confirm"));
    assert!(amount_confirmed(&c, "1000.01"));
    assert!(amount_confirmed(&c, "$1,000.01"));
    assert!(!amount_confirmed(&c, "1000"));
    assert!(!amount_confirmed(&c, ""));
    assert!(!amount_confirmed(&c, "yes"));
    let c = confirmation(&Change::SetCap(CapChoice::NoCap), None);
    assert_eq!(c.retype, Some(CapChoice::NoCap));
    assert!(c.text.contains("with no monthly limit"), "{}", c.text);
    assert!(amount_confirmed(&c, "No Cap"));
    assert!(amount_confirmed(&c, " none "));
    assert!(!amount_confirmed(&c, "50"));
    assert!(!amount_confirmed(&c, "y"));
    assert_eq!(confirmation(&Change::Disable, None).retype, None);
}

#[test]
fn the_put_bodies() {
    assert_eq!(
        put_body(&Change::Enable(cap("50")), "USD"),
        json!({"is_enabled": true, "monthly_credit_limit": 5000, "currency": "USD"})
    );
    assert_eq!(
        put_body(&Change::SetCap(CapChoice::NoCap), "EUR"),
        json!({"is_enabled": true, "monthly_credit_limit": null, "currency": "EUR"})
    );
    assert_eq!(
        put_body(&Change::Disable, "USD"),
        json!({"is_enabled": false})
    );
}

#[test]
fn differences_in_words() {
    let asked = Change::Enable(cap("50"));
    assert_eq!(difference(&asked, &eu(Some(true), Some(50.0), None)), None);
    assert_eq!(
        difference(&asked, &eu(Some(true), Some(20.0), None)).as_deref(),
        Some("you asked for a monthly cap of $50.00, but the account reports $20.00")
    );
    assert!(difference(&asked, &eu(Some(true), None, None))
        .unwrap()
        .contains("reports no cap"));
    assert!(
        difference(&asked, &eu(Some(false), None, Some("org_policy")))
            .unwrap()
            .contains("still reports it off (org_policy)")
    );
    assert!(difference(&asked, &eu(None, None, None)).is_some());
    assert_eq!(
        difference(&Change::Disable, &eu(Some(false), Some(50.0), None)),
        None
    );
    assert_eq!(
        difference(
            &Change::SetCap(CapChoice::NoCap),
            &eu(Some(true), None, None)
        ),
        None
    );
}

#[test]
fn user_facing_messages_only() {
    let token = Secret::new("sk-ant-oat01-secret");
    let body = br#"{"type":"error","error":{"type":"invalid_request_error","message":"Your payment method was declined.","details":{"error_visibility":"user_facing"}}}"#;
    assert_eq!(
        user_facing_message(body, &token).as_deref(),
        Some("Your payment method was declined.")
    );
    let hidden =
        br#"{"error":{"message":"internal detail","details":{"error_visibility":"internal"}}}"#;
    assert_eq!(user_facing_message(hidden, &token), None);
    let echo = br#"{"error":{"message":"bad token sk-ant-oat01-secret","details":{"error_visibility":"user_facing"}}}"#;
    assert_eq!(user_facing_message(echo, &token), None);
    assert_eq!(user_facing_message(b"<html>", &token), None);
    let long = format!(
        r#"{{"error":{{"message":"{}\nsecond line","details":{{"error_visibility":"user_facing"}}}}}}"#,
        "x".repeat(400)
    );
    assert_eq!(
        user_facing_message(long.as_bytes(), &token).unwrap().len(),
        300
    );
}

#[test]
fn the_organization_comes_from_the_account_file_or_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(ACCOUNT_FILE_NAME);
    assert_eq!(read_account_file(Some(&path)).organization_uuid, None);
    std::fs::write(
        &path,
        r#"{"oauthAccount":{"organizationUuid":"0b8e2c1a-1f2d-4c3b-9a8e-7d6c5b4a3f21","organizationRole":"admin"}}"#,
    )
    .unwrap();
    let a = read_account_file(Some(&path));
    assert_eq!(
        a.organization_uuid.as_deref(),
        Some("0b8e2c1a-1f2d-4c3b-9a8e-7d6c5b4a3f21")
    );
    assert_eq!(a.organization_role.as_deref(), Some("admin"));
    for bad in [
        r#"{"oauthAccount":{"organizationUuid":"../../etc"}}"#,
        r#"{"oauthAccount":{"organizationUuid":42}}"#,
        r#"{"oauthAccount":null}"#,
        "not json",
    ] {
        std::fs::write(&path, bad).unwrap();
        assert_eq!(
            read_account_file(Some(&path)).organization_uuid,
            None,
            "{bad}"
        );
    }
    assert_eq!(
        account_file_path(Some(Path::new("/c")), Some(Path::new("/h"))),
        Some(PathBuf::from("/c/.claude.json"))
    );
    assert_eq!(
        account_file_path(None, Some(Path::new("/h"))),
        Some(PathBuf::from("/h/.claude.json"))
    );
    assert!(is_uuid("0b8e2c1a-1f2d-4c3b-9a8e-7d6c5b4a3f21"));
    assert!(!is_uuid("0b8e2c1a1f2d4c3b9a8e7d6c5b4a3f21"));
    assert!(!is_uuid("0b8e2c1a-1f2d-4c3b-9a8e-7d6c5b4a3f2g"));
}

#[test]
fn history_keeps_no_organization() {
    assert_eq!(
        redact_request(
            "PUT /api/oauth/organizations/0b8e2c1a-1f2d-4c3b-9a8e-7d6c5b4a3f21/overage_spend_limit"
        ),
        "PUT .../overage_spend_limit"
    );
    assert_eq!(
        redact_request("GET /api/oauth/usage"),
        "GET /api/oauth/usage"
    );
}
