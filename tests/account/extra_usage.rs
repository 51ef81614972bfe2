//! A loopback server that plays the Anthropic account behind Extra Usage: the OAuth usage
//! endpoint, the profile, and the two writes (`PUT overage_spend_limit`, `POST
//! setup_overage_billing`) that change what the usage endpoint then reports. A test sets the
//! account's state and, where a case needs it, a canned answer for one route.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::{authorized, Request, Response, Server};

pub const ORG: &str = "4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b";

/// The account as the server keeps it.
#[derive(Debug, Clone)]
pub struct Account {
    /// Extra Usage was ever set up (else the PUT refuses and the usage says
    /// `overage_not_provisioned`, unless `hide_not_provisioned`).
    pub provisioned: bool,
    pub enabled: bool,
    pub cap_cents: Option<u64>,
    pub used_cents: u64,
    /// The usage response leaves out `disabled_reason` (only the PUT says it).
    pub hide_not_provisioned: bool,
    /// After a write, the account reports this cap instead of the one written.
    pub reports_cap_cents: Option<Option<u64>>,
    /// Canned answers, by route: `put`, `setup`, `usage_after_write`, `overage_get`,
    /// `profile`.
    pub put: Option<Response>,
    pub setup: Option<Response>,
    pub usage_after_write: Option<Response>,
    /// `GET overage_spend_limit`: by default 405, as public reports say it answers.
    pub overage_get: Option<Response>,
    /// `GET /api/oauth/profile`: by default 404.
    pub profile: Option<Response>,
    /// Writes the server accepted.
    pub writes: u32,
    /// The account's currency; `None`: the usage response names none.
    pub currency: Option<&'static str>,
    /// Readings of the usage response so far.
    pub reads: u32,
    /// Right after the usage response was read this many times, someone changes the account
    /// elsewhere (in the browser): between Headroom's question and its write.
    pub elsewhere: Option<(u32, Elsewhere)>,
    /// How the PUT answers once it has applied the write.
    pub after_put: AfterPut,
}

/// A change made to the account elsewhere (in the browser).
pub type Elsewhere = fn(&mut Account);

/// How the PUT answers after the account applied it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPut {
    /// As Anthropic does: 200 with the setting.
    Answer,
    /// The connection drops halfway through the answer.
    CutOff,
    /// A proxy answers with this status (502, 503, 504).
    Status(u16),
    /// The answer comes after this long (past the client's timeout).
    Slow(std::time::Duration),
}

impl Default for Account {
    fn default() -> Self {
        Account {
            provisioned: true,
            enabled: false,
            cap_cents: None,
            used_cents: 1234,
            hide_not_provisioned: false,
            reports_cap_cents: None,
            put: None,
            setup: None,
            usage_after_write: None,
            overage_get: None,
            profile: None,
            writes: 0,
            currency: Some("USD"),
            reads: 0,
            elsewhere: None,
            after_put: AfterPut::Answer,
        }
    }
}

pub fn overage_path(org: &str) -> String {
    format!("/api/oauth/organizations/{org}/overage_spend_limit")
}

pub fn setup_path(org: &str) -> String {
    format!("/api/oauth/organizations/{org}/setup_overage_billing")
}

/// A user-facing refusal, shaped like Anthropic's error bodies.
pub fn user_facing(status: u16, message: &str) -> Response {
    Response::json(
        status,
        json!({
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": message,
                "details": {"error_visibility": "user_facing"}
            }
        })
        .to_string(),
    )
}

/// Starts the server; the returned handle changes the account while the app runs.
pub fn account_server(account: Account) -> (Server, Arc<Mutex<Account>>) {
    let state = Arc::new(Mutex::new(account));
    let shared = state.clone();
    let server = Server::start(move |r, _| answer(&mut shared.lock().unwrap(), r));
    (server, state)
}

fn usage_body(a: &Account) -> String {
    let cap = match (a.writes > 0, a.reports_cap_cents) {
        (true, Some(reported)) => reported,
        _ => a.cap_cents,
    };
    let mut extra = json!({
        "is_enabled": a.enabled,
        "monthly_limit": cap,
        "used_credits": a.used_cents,
    });
    if let Some(currency) = a.currency {
        extra["currency"] = json!(currency);
    }
    if !a.provisioned && !a.hide_not_provisioned {
        extra["disabled_reason"] = json!("overage_not_provisioned");
    }
    json!({
        "five_hour": {"utilization": 91.0, "resets_at": "2099-01-01T00:00:00Z"},
        "seven_day": {"utilization": 40.0, "resets_at": "2099-01-05T00:00:00Z"},
        "extra_usage": extra,
    })
    .to_string()
}

fn answer(a: &mut Account, r: &Request) -> Response {
    if !authorized(r) {
        return Response::json(
            401,
            r#"{"type":"error","error":{"type":"authentication_error"}}"#,
        );
    }
    let overage = overage_path(ORG);
    let setup = setup_path(ORG);
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/oauth/usage") => {
            let answer = match (&a.usage_after_write, a.writes > 0) {
                (Some(canned), true) => canned.clone(),
                _ => Response::json(200, usage_body(a)),
            };
            a.reads += 1;
            if let Some((after, change)) = a.elsewhere {
                if a.reads == after {
                    change(a);
                }
            }
            answer
        }
        ("GET", "/api/oauth/profile") => a.profile.clone().unwrap_or_else(Response::not_found),
        ("GET", p) if p == overage => a.overage_get.clone().unwrap_or_else(|| {
            Response::json(
                405,
                r#"{"type":"error","error":{"type":"method_not_allowed"}}"#,
            )
        }),
        ("POST", p) if p == setup => {
            if let Some(canned) = &a.setup {
                return canned.clone();
            }
            let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            a.provisioned = true;
            a.cap_cents = body["org_monthly_spend_limit"].as_u64();
            a.writes += 1;
            Response::json(200, "{}")
        }
        ("PUT", p) if p == overage => {
            if let Some(canned) = &a.put {
                return canned.clone();
            }
            if !a.provisioned {
                return Response::json(
                    400,
                    json!({"type": "error", "error": {"type": "invalid_request_error",
                        "message": "Extra usage has not been set up for this organization.",
                        "details": {"error_visibility": "user_facing", "error_code": "overage_not_provisioned"}}})
                    .to_string(),
                );
            }
            let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            if let Some(on) = body["is_enabled"].as_bool() {
                a.enabled = on;
            }
            if let Some(limit) = body.get("monthly_credit_limit") {
                a.cap_cents = limit.as_u64();
            }
            a.writes += 1;
            let answer = Response::json(
                200,
                json!({"is_enabled": a.enabled, "monthly_credit_limit": a.cap_cents,
                       "currency": a.currency, "used_credits": a.used_cents, "disabled_until": null})
                .to_string(),
            );
            match a.after_put {
                AfterPut::Answer => answer,
                AfterPut::CutOff => answer.cut_off(),
                AfterPut::Status(status) => Response::json(
                    status,
                    r#"{"type":"error","error":{"type":"api_error","message":"upstream"}}"#,
                ),
                AfterPut::Slow(delay) => answer.with_delay(delay),
            }
        }
        _ => Response::not_found(),
    }
}
