use std::path::{Path, PathBuf};

use serde_json::json;

use super::history::redact_request;
use super::plan;
use super::*;
use crate::account::Secret;
use crate::snapshot::{ExtraUsage, Source};

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

/// A reading as `GET /api/oauth/usage` would give it, from its `extra_usage` object.
fn reading(extra: serde_json::Value) -> Reading {
    let body = json!({ "extra_usage": extra });
    Reading::from_usage(body.as_object().unwrap(), None, 1_000)
}

fn off_usd() -> Reading {
    reading(
        json!({"is_enabled": false, "monthly_limit": null, "currency": "USD", "disabled_reason": "user_disabled"}),
    )
}

fn on(limit: u64, currency: &str) -> Reading {
    reading(json!({"is_enabled": true, "monthly_limit": limit, "currency": currency}))
}

fn billed() -> (Billed, String) {
    (
        Billed {
            email: Some("dev@example.com".into()),
            organization_name: Some("Dev".into()),
        },
        "0b8e2c1a-1f2d-4c3b-9a8e-7d6c5b4a3f21".into(),
    )
}

fn build(change: Change, before: Reading) -> Result<Plan, WriteError> {
    plan::build(change, before, billed(), 1_000)
}

#[test]
fn the_question_names_the_amount_the_currency_and_the_account() {
    let p = build(Change::Enable(cap("50")), off_usd()).unwrap();
    assert_eq!(
        p.question,
        "Turn on Extra Usage for dev@example.com (organization “Dev”) with a monthly cap of $50.00? Usage past your plan's limits is billed to the organization's payment method at API rates, up to $50.00 a month."
    );
    assert_eq!((p.retype.as_deref(), p.sets_up), (None, false));
    assert_eq!(p.amount().as_deref(), Some("$50.00"));
    let p = build(Change::SetCap(cap("75")), on(5000, "EUR")).unwrap();
    assert!(
        p.question.starts_with(
            "Change the monthly cap of Extra Usage for dev@example.com (organization “Dev”) from €50.00 to €75.00?"
        ),
        "{}",
        p.question
    );
    assert_eq!(p.change.describe(&p.currency), "set cap €75.00");
    let p = build(Change::Disable, on(5000, "USD")).unwrap();
    assert!(
        p.question
            .starts_with("Turn off Extra Usage for dev@example.com"),
        "{}",
        p.question
    );
    let p = build(
        Change::Enable(cap("20")),
        reading(
            json!({"is_enabled": false, "currency": "USD", "disabled_reason": NOT_PROVISIONED}),
        ),
    )
    .unwrap();
    assert!(p.sets_up);
    assert!(p.question.contains("sets it up first"), "{}", p.question);
}

/// Audit N1: `cap 75` while the account was off asked "Change the cap …?" and sent
/// `is_enabled: true`. Changing the cap never turns Extra Usage on.
#[test]
fn a_cap_change_while_off_is_refused_not_turned_into_turning_it_on() {
    let e = build(Change::SetCap(cap("75")), off_usd()).unwrap_err();
    assert_eq!(e.kind, WriteErrorKind::IsOff);
    let unknown = reading(json!({"monthly_limit": 5000, "currency": "USD"}));
    assert_eq!(
        build(Change::SetCap(cap("75")), unknown).unwrap_err().kind,
        WriteErrorKind::NotStated
    );
}

/// Audit N9: a usage answer without a currency was written as USD.
#[test]
fn no_amount_is_written_in_a_currency_the_account_did_not_state() {
    let no_currency = reading(json!({"is_enabled": false, "monthly_limit": null}));
    let e = build(Change::Enable(cap("50")), no_currency.clone()).unwrap_err();
    assert_eq!(e.kind, WriteErrorKind::NotStated);
    assert!(e.reason.contains("its currency"), "{}", e.reason);
    // Turning it off names no amount.
    assert!(build(Change::Disable, no_currency).is_ok());
    let yen = reading(json!({"is_enabled": false, "currency": "JPY", "decimal_places": 0}));
    assert_eq!(
        build(Change::Enable(cap("50")), yen).unwrap_err().kind,
        WriteErrorKind::NotStated
    );
}

/// Audit N14: a missing cap field read as "no cap".
#[test]
fn a_missing_cap_is_unknown_and_null_is_no_cap() {
    assert_eq!(
        reading(json!({"is_enabled": true, "currency": "USD"})).cap,
        CapState::Unknown
    );
    assert_eq!(
        reading(json!({"is_enabled": true, "monthly_limit": null, "currency": "USD"})).cap,
        CapState::NoCap
    );
    assert_eq!(
        reading(json!({"is_enabled": true, "monthly_limit": "lots", "currency": "USD"})).cap,
        CapState::Unknown
    );
    assert_eq!(on(5000, "usd").cap, CapState::Cap(5000));
    assert_eq!(on(5000, "usd").currency.as_deref(), Some("USD"));
    let spend = json!({"spend": {"enabled": true, "limit": {"amount_minor": 7500, "currency": "AUD", "exponent": 2}}});
    let r = Reading::from_usage(spend.as_object().unwrap(), None, 0);
    assert_eq!(
        (r.cap, r.currency.as_deref()),
        (CapState::Cap(7500), Some("AUD"))
    );
    assert!(!r.shows(&Change::Enable(CapChoice::NoCap)));
    assert!(r.shows(&Change::SetCap(cap("75"))));
}

#[test]
fn what_changed_since_the_question_is_said() {
    assert_eq!(on(5000, "USD").changed_since(&on(5000, "USD")), None);
    assert!(off_usd()
        .changed_since(&on(5000, "USD"))
        .unwrap()
        .contains("Extra Usage is now off (it was on)"));
    assert!(on(7500, "USD")
        .changed_since(&on(5000, "USD"))
        .unwrap()
        .contains("cap"));
    assert!(on(5000, "EUR")
        .changed_since(&on(5000, "USD"))
        .unwrap()
        .contains("currency"));
}

#[test]
fn big_caps_and_no_cap_need_the_amount_again_in_its_canonical_form() {
    let p = build(Change::Enable(cap("1000")), off_usd()).unwrap();
    assert_eq!(p.retype, None, "1,000.00 itself is not over 1,000");
    assert!(p
        .clone()
        .confirm(ConfirmedBy::Terminal, None, 1_000)
        .is_ok());
    let p = build(Change::Enable(cap("1000.01")), off_usd()).unwrap();
    assert_eq!(p.retype.as_deref(), Some("1000.01"));
    assert_eq!(p.retype_hint.as_deref(), Some("type 1000.01 to confirm"));
    for good in ["1000.01", "$1,000.01", "1000.01 USD"] {
        assert!(
            p.clone()
                .confirm(ConfirmedBy::Terminal, Some(good), 1_000)
                .is_ok(),
            "{good}"
        );
    }
    for bad in ["1000", "", "yes", "1.000,01", "1000,01"] {
        let e = p
            .clone()
            .confirm(ConfirmedBy::Terminal, Some(bad), 1_000)
            .unwrap_err();
        assert_eq!(e.kind, WriteErrorKind::NotConfirmed, "{bad}");
    }
    let p = build(Change::Enable(CapChoice::NoCap), off_usd()).unwrap();
    assert!(
        p.question.contains("with no monthly limit"),
        "{}",
        p.question
    );
    assert!(p
        .clone()
        .confirm(ConfirmedBy::Pane, Some("No Cap"), 1_000)
        .is_ok());
    assert!(p
        .clone()
        .confirm(ConfirmedBy::Pane, Some(" none "), 1_000)
        .is_ok());
    assert!(p
        .clone()
        .confirm(ConfirmedBy::Pane, Some("50"), 1_000)
        .is_err());
    assert!(p.confirm(ConfirmedBy::Pane, None, 1_000).is_err());
}

/// Audit N13: `cap 75 --yes --confirm-amount 57` wrote 75 silently.
#[test]
fn an_amount_typed_again_is_checked_whenever_it_is_given() {
    let p = build(Change::SetCap(cap("75")), on(5000, "USD")).unwrap();
    assert_eq!(p.retype, None);
    let e = p
        .clone()
        .confirm(ConfirmedBy::Terminal, Some("57"), 1_000)
        .unwrap_err();
    assert_eq!(e.kind, WriteErrorKind::NotConfirmed);
    assert!(p.confirm(ConfirmedBy::Terminal, Some("75"), 1_000).is_ok());
}

#[test]
fn a_question_is_good_for_five_minutes() {
    let p = build(Change::Disable, on(5000, "USD")).unwrap();
    assert!(p
        .clone()
        .confirm(ConfirmedBy::Pane, None, 1_000 + PLAN_LIFETIME_MS)
        .is_ok());
    let e = p
        .confirm(ConfirmedBy::Pane, None, 1_001 + PLAN_LIFETIME_MS)
        .unwrap_err();
    assert_eq!(e.kind, WriteErrorKind::NotConfirmed);
}

/// Audit N4: without a terminal, any amount (or no cap) went through with `--yes`.
#[test]
fn scripts_write_only_within_the_users_own_limit_and_never_no_cap() {
    let script = |max: Option<&str>| ConfirmedBy::Script {
        allowed_up_to: max.map(|m| Cap::parse(m).unwrap()),
    };
    let fifty = build(Change::Enable(cap("50")), off_usd()).unwrap();
    assert_eq!(
        fifty
            .clone()
            .confirm(script(None), None, 1_000)
            .unwrap_err()
            .kind,
        WriteErrorKind::ScriptNotAllowed
    );
    assert_eq!(
        fifty
            .clone()
            .confirm(script(Some("40")), None, 1_000)
            .unwrap_err()
            .kind,
        WriteErrorKind::ScriptNotAllowed
    );
    assert!(fifty.confirm(script(Some("50")), None, 1_000).is_ok());
    let none = build(Change::Enable(CapChoice::NoCap), off_usd()).unwrap();
    assert_eq!(
        none.confirm(script(Some("100000")), Some("no cap"), 1_000)
            .unwrap_err()
            .kind,
        WriteErrorKind::ScriptNotAllowed
    );
    // Turning it off costs nothing.
    let off = build(Change::Disable, on(5000, "USD")).unwrap();
    assert!(off.confirm(script(None), None, 1_000).is_ok());
    assert!(refuse_in_agent_shell(Some(std::ffi::OsStr::new("1"))).is_err());
    assert!(refuse_in_agent_shell(None).is_ok());
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
fn a_change_is_stored_as_data_and_read_back() {
    for change in [
        Change::Enable(cap("50")),
        Change::SetCap(CapChoice::NoCap),
        Change::Disable,
    ] {
        let json = serde_json::to_string(&change).unwrap();
        assert_eq!(
            serde_json::from_str::<Change>(&json).unwrap(),
            change,
            "{json}"
        );
    }
    assert_eq!(
        serde_json::to_value(Change::Enable(cap("50"))).unwrap(),
        json!({"action": "enable", "cap_cents": 5000})
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
            .contains("still reports it off")
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
    // Audit N18: a server's escape sequences never reach a terminal or the history.
    let escapes = br#"{"error":{"message":"declined\u001b]0;pwned\u0007\u001b[2J","details":{"error_visibility":"user_facing"}}}"#;
    let shown = user_facing_message(escapes, &token).unwrap();
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(shown.starts_with("declined"), "{shown:?}");
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
