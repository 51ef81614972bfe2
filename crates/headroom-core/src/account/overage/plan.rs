//! The question asked before a write, built from a reading taken just before it, and the
//! person's answer checked against it.

use serde::Serialize;

use super::reading::{CapState, Reading};
use super::words::money_cents;
use super::{CapChoice, Change, WriteError, WriteErrorKind, PLAN_LIFETIME_MS};
use crate::settings::Cap;

/// Whose money a write moves: the login's e-mail and its organization's name, as Claude
/// Code's account file (or the OAuth profile) names them. The organization's UUID is kept
/// apart (the plan's, private): it is not for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Billed {
    /// `oauthAccount.emailAddress`.
    pub email: Option<String>,
    /// `oauthAccount.organizationName`.
    pub organization_name: Option<String>,
}

impl Billed {
    /// `dev@example.com (organization “Dev”)`, or what of it is known.
    pub fn words(&self) -> String {
        match (&self.email, &self.organization_name) {
            (Some(e), Some(o)) => format!("{e} (organization “{o}”)"),
            (Some(e), None) => e.clone(),
            (None, Some(o)) => format!("the organization “{o}”"),
            (None, None) => {
                "the organization of Claude Code's login (Claude Code has not recorded its name)"
                    .to_owned()
            }
        }
    }
}

/// A change ready to be asked: the question and everything it was built on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// What will be asked of the account.
    pub change: Change,
    /// The reading the question was built on.
    pub before: Reading,
    /// Who will be billed.
    pub billed: Billed,
    /// The account's currency; empty only for turning Extra Usage off, which names no amount.
    pub currency: String,
    /// The question, naming what will happen, the amount, the currency and the account: "Turn
    /// on Extra Usage for dev@example.com (organization “Dev”) with a monthly cap of €50.00?
    /// …".
    pub question: String,
    /// When set, the amount to type again, in the canonical form (`1500.00`, `no cap`).
    pub retype: Option<String>,
    /// The same in words: "type 1500.00 to confirm".
    pub retype_hint: Option<String>,
    /// Whether the allowance will be set up first (`setup_overage_billing`).
    pub sets_up: bool,
    /// When the question was built (epoch ms).
    pub made_at_ms: i64,
    /// After this, the answer is refused and the question must be asked again.
    pub expires_at_ms: i64,
    /// The organization the write goes to (never shown, never serialized).
    #[serde(skip)]
    pub(super) organization: String,
}

/// Who confirmed, and so which limits apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmedBy {
    /// A person answered the question on a terminal.
    Terminal,
    /// A person pressed the dialog's button in the settings pane.
    Pane,
    /// `--yes` without a terminal: a script. Allowed only up to the cap the user set for
    /// scripts from a terminal or the pane (`extra_usage.scripts_max_cap`), never "no cap";
    /// `None`: scripts may not turn Extra Usage on or change its cap at all.
    Script {
        /// The user's limit for scripts.
        allowed_up_to: Option<Cap>,
    },
}

/// A plan the person confirmed: the only thing [`super::execute`] takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmed(Plan);

impl Confirmed {
    pub(super) fn into_plan(self) -> Plan {
        self.0
    }

    /// The confirmed plan.
    pub fn plan(&self) -> &Plan {
        &self.0
    }
}

impl Plan {
    /// Checks the person's answer: the question is not older than [`PLAN_LIFETIME_MS`], the
    /// amount typed again (whenever one is given, and always where the plan asks for it) is the
    /// plan's, and a script stays within what the user allowed scripts.
    pub fn confirm(
        self,
        by: ConfirmedBy,
        typed: Option<&str>,
        now_ms: i64,
    ) -> Result<Confirmed, WriteError> {
        let refuse = |kind, reason: String| {
            Err(WriteError {
                offer_browser: false,
                ..WriteError::new(kind, reason)
            })
        };
        if now_ms > self.expires_at_ms || now_ms < self.made_at_ms - 60_000 {
            return refuse(
                WriteErrorKind::NotConfirmed,
                "That question is more than five minutes old, so nothing was changed; ask again to see your account as it is now".to_owned(),
            );
        }
        let typed = typed.map(str::trim).filter(|t| !t.is_empty());
        if let Some(t) = typed {
            if !self.typed_matches(t) {
                return refuse(
                    WriteErrorKind::NotConfirmed,
                    format!(
                        "The amount typed again ({t:?}) is not the amount asked ({}), so nothing was changed",
                        self.amount_words()
                    ),
                );
            }
        } else if let Some(hint) = &self.retype_hint {
            return refuse(
                WriteErrorKind::NotConfirmed,
                format!(
                    "This amount must be typed again to confirm it ({hint}); nothing was changed"
                ),
            );
        }
        if let ConfirmedBy::Script { allowed_up_to } = by {
            match (self.change.cap(), allowed_up_to) {
                // Turning Extra Usage off costs nothing.
                (None, _) => {}
                (Some(CapChoice::NoCap), _) => {
                    return refuse(
                        WriteErrorKind::ScriptNotAllowed,
                        "Without a terminal, Headroom never sets \"no cap\": run it in a terminal, or use Headroom's settings pane".to_owned(),
                    )
                }
                (Some(CapChoice::Cap(_)), None) => {
                    return refuse(
                        WriteErrorKind::ScriptNotAllowed,
                        "Without a terminal, Headroom changes Extra Usage only if you allowed scripts a maximum cap first; run it in a terminal, or use Headroom's settings pane".to_owned(),
                    )
                }
                (Some(CapChoice::Cap(cap)), Some(max)) if cap > max => {
                    return refuse(
                        WriteErrorKind::ScriptNotAllowed,
                        format!(
                            "Without a terminal, Headroom sets caps only up to the {} you allowed scripts; run it in a terminal, or use Headroom's settings pane",
                            money_cents(max.cents(), &self.currency)
                        ),
                    )
                }
                (Some(CapChoice::Cap(_)), Some(_)) => {}
            }
        }
        Ok(Confirmed(self))
    }

    /// The amount the question names, in the account's currency (`€1,500.00`, `no cap`);
    /// `None` for turning Extra Usage off.
    pub fn amount(&self) -> Option<String> {
        self.change.cap().map(|c| c.describe(&self.currency))
    }

    fn amount_words(&self) -> String {
        self.amount()
            .unwrap_or_else(|| "none: it turns Extra Usage off".to_owned())
    }

    /// Whether `typed` is the plan's amount: the canonical form of what [`Cap::parse`]
    /// reads (so `1500`, `1,500.00` and `$1500` match 1500.00, and `15,00` matches nothing),
    /// or for no cap `no cap` / `none` / `unlimited` in any case.
    fn typed_matches(&self, typed: &str) -> bool {
        match self.change.cap() {
            None => false,
            Some(CapChoice::Cap(cap)) => {
                let typed = strip_currency(typed, &self.currency);
                Cap::parse(typed).is_ok_and(|t| t.plain() == cap.plain())
            }
            Some(CapChoice::NoCap) => {
                let t = typed.to_ascii_lowercase();
                matches!(
                    t.as_str(),
                    "no cap" | "nocap" | "no-cap" | "none" | "unlimited"
                )
            }
        }
    }
}

/// `50 EUR` / `EUR 50` → `50`, for the account's own currency code only.
fn strip_currency<'a>(typed: &'a str, currency: &str) -> &'a str {
    if currency.is_empty() {
        return typed;
    }
    let upper = typed.to_ascii_uppercase();
    if upper.ends_with(currency) {
        return typed[..typed.len() - currency.len()].trim();
    }
    if upper.starts_with(currency) {
        return typed[currency.len()..].trim();
    }
    typed
}

/// The plan for `change` on the account as `before` reads it; `Err` when it cannot be asked.
pub(super) fn build(
    change: Change,
    before: Reading,
    (billed, organization): (Billed, String),
    now_ms: i64,
) -> Result<Plan, WriteError> {
    let not_stated = |what: &str| {
        Err(WriteError::new(
            WriteErrorKind::NotStated,
            format!("Your account's answer did not state {what}, so Headroom cannot ask the question safely and nothing was changed"),
        ))
    };
    if let Change::SetCap(_) = change {
        match before.enabled {
            Some(true) => {}
            Some(false) => {
                return Err(WriteError {
                    offer_browser: false,
                    ..WriteError::new(
                        WriteErrorKind::IsOff,
                        "Extra Usage is off in your account, and changing its cap would turn it on; turning it on is its own question",
                    )
                })
            }
            None => return not_stated("whether Extra Usage is on"),
        }
    }
    let currency = match (change, &before.currency) {
        (_, Some(c)) => c.clone(),
        (Change::Disable, None) => String::new(),
        (_, None) => return not_stated("its currency"),
    };
    if change.enabled() && before.decimals != 2 {
        return not_stated("its amounts in cents (Headroom writes caps only in currencies with cents; use claude.ai's settings)");
    }
    let sets_up = change.enabled() && before.not_provisioned();
    let who = billed.words();
    let billed_up_to = |c: CapChoice| {
        match c {
        CapChoice::Cap(_) => format!(
            "Usage past your plan's limits is billed to the organization's payment method at API rates, up to {} a month.",
            c.describe(&currency)
        ),
        CapChoice::NoCap => "Usage past your plan's limits is billed to the organization's payment method at API rates, with no monthly limit.".to_owned(),
    }
    };
    let with = |c: CapChoice| match c {
        CapChoice::Cap(_) => format!("a monthly cap of {}", c.describe(&currency)),
        CapChoice::NoCap => "no monthly cap".to_owned(),
    };
    let current_cap = match before.cap {
        CapState::Cap(minor) => money_cents(minor, &currency),
        CapState::NoCap => "no cap".to_owned(),
        CapState::Unknown => "a cap your account did not state".to_owned(),
    };
    let mut question = match change {
        Change::Enable(c) if before.enabled == Some(true) => format!(
            "Extra Usage is already on for {who}, with {current_cap}. Set its monthly cap to {}? {}",
            c.describe(&currency),
            billed_up_to(c)
        ),
        Change::Enable(c) => format!(
            "Turn on Extra Usage for {who} with {}? {}",
            with(c),
            billed_up_to(c)
        ),
        Change::SetCap(c) => format!(
            "Change the monthly cap of Extra Usage for {who} from {current_cap} to {}? {}",
            c.describe(&currency),
            billed_up_to(c)
        ),
        Change::Disable => format!(
            "Turn off Extra Usage for {who}? Work stops when a plan limit is reached, until the window resets, and nothing past your plan's limits is billed."
        ),
    };
    if sets_up {
        question.push_str(
            " Extra Usage was never set up on this account: Headroom sets it up first (a one-time step), then turns it on.",
        );
    }
    let retype = change.cap().filter(|c| c.needs_retype());
    Ok(Plan {
        change,
        before,
        billed,
        currency,
        question,
        retype: retype.map(CapChoice::canonical),
        retype_hint: retype.map(|c| format!("type {} to confirm", c.canonical())),
        sets_up,
        made_at_ms: now_ms,
        expires_at_ms: now_ms.saturating_add(PLAN_LIFETIME_MS),
        organization,
    })
}
