//! `headroom claude-ai login|logout|orgs`: the optional claude.ai source for people who use
//! Claude in the browser or the apps without Claude Code.
//!
//! The session key is read from stdin (piped) or a hidden prompt, never from the command line
//! (argv is visible to every process and lands in shell history). It is checked against
//! claude.ai's `/api/organizations` before it is kept, and kept only in the OS keychain.

use std::io::{IsTerminal, Read};

use clap::{Args, Subcommand};
use headroom_core::account::{
    session_key_from_paste, AccountError, FetchError, Organization, Secret, SourceError,
    CLAUDE_AI_SESSION_KEY,
};

use crate::context::{Context, Failure};

#[derive(Debug, Args)]
pub(crate) struct ClaudeAiArgs {
    #[command(subcommand)]
    pub action: ClaudeAiAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClaudeAiAction {
    /// Store a claude.ai session key in the OS keychain (read from stdin or a hidden prompt).
    Login,
    /// Remove the session key from the keychain and stop reading claude.ai.
    Logout,
    /// List the key's organizations; `--use <uuid>` picks the one to read.
    Orgs {
        #[arg(long = "use", value_name = "UUID")]
        use_org: Option<String>,
    },
}

pub(crate) fn run(ctx: &Context, args: &ClaudeAiArgs) -> Result<(), Failure> {
    match &args.action {
        ClaudeAiAction::Login => login(ctx),
        ClaudeAiAction::Logout => logout(ctx),
        ClaudeAiAction::Orgs { use_org } => orgs(ctx, use_org.as_deref()),
    }
}

fn read_key() -> Result<Secret, Failure> {
    let raw = if std::io::stdin().is_terminal() {
        eprintln!("Paste your claude.ai session key (the `sessionKey` cookie of claude.ai in your browser's developer tools); it is not shown and is kept only in your system keychain.");
        rpassword::prompt_password("Session key: ")
            .map_err(|e| Failure::new(1, format!("cannot read the session key: {e}")))?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut text)
            .map_err(|_| Failure::new(2, "cannot read the session key from stdin (not text)"))?;
        text
    };
    // Exit 2: the input is wrong, as for any other bad argument.
    session_key_from_paste(&raw).map_err(|e| Failure::new(2, e.to_string()))
}

/// What went wrong asking claude.ai, in words that never include the key.
fn explain(e: AccountError) -> Failure {
    match e {
        AccountError::Source(SourceError::Fetch(FetchError::Unauthorized))
        | AccountError::Source(SourceError::Fetch(FetchError::Forbidden { .. }))
        | AccountError::Source(SourceError::Parse(
            headroom_core::account::UsageParseError::Html,
        )) => Failure::new(
            1,
            "claude.ai refused this session key (signed out, expired or mistyped); nothing was stored. Copy a fresh `sessionKey` cookie and try again",
        ),
        AccountError::Source(SourceError::Fetch(FetchError::RateLimited { .. })) => Failure::new(
            1,
            "claude.ai is rate limiting requests right now; nothing was stored. Try again in a few minutes",
        ),
        AccountError::Source(SourceError::Fetch(e @ (FetchError::Offline(_) | FetchError::Timeout(_)))) => {
            Failure::new(1, format!("cannot reach claude.ai ({e}); nothing was stored"))
        }
        other => Failure::new(1, format!("claude.ai: {other}; nothing was stored")),
    }
}

fn organizations(ctx: &Context, key: &Secret) -> Result<Vec<Organization>, Failure> {
    let mut settings = ctx.settings()?;
    // Asking for the organizations is what claude.ai's source does, whether or not it is
    // switched on yet.
    settings.sources.claude_ai = true;
    ctx.refresher(&settings)?
        .organizations_blocking(key)
        .map_err(explain)
}

fn login(ctx: &Context) -> Result<(), Failure> {
    let key = read_key()?;
    let orgs = organizations(ctx, &key)?;
    let chat: Vec<&Organization> = orgs.iter().filter(|o| o.has_chat()).collect();
    ctx.secrets()
        .set(CLAUDE_AI_SESSION_KEY, &key)
        .map_err(|e| Failure::new(1, format!("{e}. The session key was not stored.")))?;
    let chosen = match chat.as_slice() {
        [one] => Some(one.uuid.clone()),
        _ => None,
    };
    ctx.update_settings(|s| {
        s.sources.claude_ai = true;
        s.sources.claude_ai_organization = chosen.clone();
    })?;
    println!("Stored the claude.ai session key in your system keychain.");
    match (chosen, chat.len()) {
        (Some(uuid), _) => {
            let name = chat.first().map(|o| o.name.as_str()).unwrap_or_default();
            println!("Reading usage of the organization {name:?} ({uuid}).");
        }
        (None, 0) => println!(
            "warning: none of this key's organizations has chat; claude.ai figures will be missing"
        ),
        (None, _) => {
            println!("This key has several organizations with chat; choose one with `headroom claude-ai orgs --use <uuid>`:");
            for o in chat {
                println!("  {}  {}", o.uuid, o.name);
            }
        }
    }
    Ok(())
}

fn logout(ctx: &Context) -> Result<(), Failure> {
    let mut was_on = false;
    ctx.update_settings(|s| {
        was_on = s.sources.claude_ai;
        s.sources.claude_ai = false;
        s.sources.claude_ai_organization = None;
    })?;
    ctx.secrets()
        .delete(CLAUDE_AI_SESSION_KEY)
        .map_err(|e| Failure::new(1, e.to_string()))?;
    if was_on {
        println!(
            "Removed the claude.ai session key from your keychain; claude.ai is no longer read."
        );
    } else {
        println!("No claude.ai session key is in use; made sure none is left in your keychain.");
    }
    Ok(())
}

fn orgs(ctx: &Context, use_org: Option<&str>) -> Result<(), Failure> {
    let key = ctx
        .secrets()
        .get(CLAUDE_AI_SESSION_KEY)
        .map_err(|e| Failure::new(1, e.to_string()))?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            Failure::new(
                1,
                "no claude.ai session key is stored; paste one with `headroom claude-ai login`",
            )
        })?;
    let list = organizations(ctx, &key)?;
    if let Some(uuid) = use_org {
        let Some(org) = list
            .iter()
            .find(|o| o.uuid.eq_ignore_ascii_case(uuid.trim()))
        else {
            return Err(Failure::new(
                2,
                format!(
                    "{uuid:?} is not one of this key's organizations ({})",
                    list.iter()
                        .map(|o| o.uuid.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if !org.has_chat() {
            eprintln!(
                "warning: {:?} has no chat capability; claude.ai may report no usage for it",
                org.name
            );
        }
        ctx.update_settings(|s| {
            s.sources.claude_ai = true;
            s.sources.claude_ai_organization = Some(org.uuid.clone());
        })?;
        println!(
            "Reading usage of the organization {:?} ({}).",
            org.name, org.uuid
        );
        return Ok(());
    }
    let settings = ctx.settings()?;
    for o in &list {
        let in_use = settings.sources.claude_ai_organization.as_deref() == Some(o.uuid.as_str());
        println!(
            "{} {}  {}{}",
            if in_use { "*" } else { " " },
            o.uuid,
            o.name,
            if o.has_chat() { "" } else { "  (no chat)" }
        );
    }
    Ok(())
}
