//! Model ids as transcripts and price tables spell them, reduced to one name per model.

/// Whether a model name stands for no model at all: Claude Code's `<synthetic>` messages
/// (its own errors, zero usage) and lines without a model.
pub fn is_placeholder_model(model: &str) -> bool {
    model == "<synthetic>" || model == "unknown"
}

/// `us.anthropic.claude-sonnet-4-5-20250929-v1:0` → `claude-sonnet-4-5`.
pub fn normalize_model(model: &str) -> &str {
    let mut id = model.trim();
    if let Some(pos) = id.rfind('/') {
        id = &id[pos + 1..];
    }
    if let Some(pos) = id.find("claude-") {
        id = &id[pos..];
    }
    for suffix in ["[1m]", "-latest"] {
        id = id.strip_suffix(suffix).unwrap_or(id);
    }
    // Bedrock "-v1:0", Vertex "@20250929".
    if let Some(pos) = id.find(['@', ':']) {
        id = &id[..pos];
    }
    if let Some(stripped) = strip_version_suffix(id) {
        id = stripped;
    }
    if let Some(stripped) = strip_date_suffix(id) {
        id = stripped;
    }
    id
}

fn strip_version_suffix(id: &str) -> Option<&str> {
    let pos = id.rfind("-v")?;
    let rest = &id[pos + 2..];
    (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())).then(|| &id[..pos])
}

fn strip_date_suffix(id: &str) -> Option<&str> {
    let pos = id.rfind('-')?;
    let rest = &id[pos + 1..];
    (rest.len() == 8 && rest.bytes().all(|b| b.is_ascii_digit())).then(|| &id[..pos])
}
