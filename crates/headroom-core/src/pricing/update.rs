//! `headroom prices update`: fetch LiteLLM's current price data, check it, keep its Claude
//! entries in the data folder.
//!
//! This is the one request Headroom sends to a host other than Anthropic's, and it is sent
//! only when the user asks (or sets `prices.auto_update`, then at most daily). It carries no
//! credential, cookie or identifier beyond a user agent. A file that is too big, not JSON, not
//! LiteLLM's table, or has a Claude rate that is not positive or implausibly high is refused
//! whole; the table in use stays as it was.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    parse_table_file, source_priority, PriceTable, PricingError, TableFile, TableHeader, TableInfo,
    EMBEDDED_JSON,
};

/// Where ccusage fetches LiteLLM's table from (ccusage `pricing.rs`, `LITELLM_PRICING_URL`).
pub const DEFAULT_URL: &str =
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json";

/// LiteLLM's file is about 3.5 MB (1.110.2); anything far larger is not it.
pub const MAX_BYTES: usize = 32 << 20;

/// At least this many first-party Claude entries, or the file is not LiteLLM's table (or a
/// truncated one that still parses).
const MIN_FIRST_PARTY: usize = 5;

/// Why `headroom prices update` changed nothing; every case leaves the prices in use as they were.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The download failed (no network, a timeout).
    #[error("cannot fetch {url}: {reason}; the prices in use are unchanged")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}; the prices in use are unchanged")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The answer is larger than any price table is.
    #[error("{origin} is larger than {} MiB, which LiteLLM's price table is not; refused, the prices in use are unchanged", MAX_BYTES >> 20)]
    TooLarge {
        /// The URL or file.
        origin: String,
    },
    /// A local file given as the source cannot be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a usable price table.
    #[error("{0}; the prices in use are unchanged")]
    Invalid(PricingError),
    /// The downloaded table cannot be saved.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Where it was to be saved.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// Reads a price file from a URL (`http://` or `https://`) or a local path, capped at
/// [`MAX_BYTES`].
pub fn read_source(from: &str, timeout: Duration) -> Result<Vec<u8>, UpdateError> {
    if from.starts_with("http://") || from.starts_with("https://") {
        return fetch(from, timeout);
    }
    let path = Path::new(from);
    let file = std::fs::File::open(path).map_err(|source| UpdateError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let mut bytes = Vec::new();
    use std::io::Read;
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| UpdateError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() > MAX_BYTES {
        return Err(UpdateError::TooLarge {
            origin: from.to_owned(),
        });
    }
    Ok(bytes)
}

fn fetch(url: &str, timeout: Duration) -> Result<Vec<u8>, UpdateError> {
    let failed = |reason: String| UpdateError::Fetch {
        url: url.to_owned(),
        reason,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .user_agent(concat!("headroom/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .timeout(timeout)
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let mut response = client
            .get(url)
            .send()
            .await
            .map_err(|e| failed(short_reason(&e)))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(UpdateError::Status {
                url: url.to_owned(),
                status,
            });
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BYTES as u64)
        {
            return Err(UpdateError::TooLarge {
                origin: url.to_owned(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| failed(short_reason(&e)))?
        {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(UpdateError::TooLarge {
                    origin: url.to_owned(),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    })
}

fn short_reason(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last.lines()
        .next()
        .unwrap_or("failed")
        .chars()
        .take(160)
        .collect()
}

/// The Claude entries of a LiteLLM price file, checked, as a table file to keep.
pub fn extract(origin: &str, bytes: &[u8], date: &str) -> Result<TableFile, UpdateError> {
    let invalid = |detail: String| {
        UpdateError::Invalid(PricingError::NotATable {
            origin: origin.to_owned(),
            detail,
        })
    };
    let all: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not JSON ({e})")))?;
    let models: std::collections::BTreeMap<String, serde_json::Value> = all
        .into_iter()
        .filter(|(key, value)| {
            source_priority(key, value).is_some() && value.get("input_cost_per_token").is_some()
        })
        .collect();
    let first_party = models
        .values()
        .filter(|v| v.get("litellm_provider").and_then(|p| p.as_str()) == Some("anthropic"))
        .count();
    if first_party < MIN_FIRST_PARTY {
        return Err(invalid(format!(
            "only {first_party} first-party Claude models in it (truncated, or another file?)"
        )));
    }
    // The additions (rates LiteLLM lacks) travel with every table.
    let embedded: TableFile = serde_json::from_str(EMBEDDED_JSON)
        .map_err(|e| invalid(format!("embedded table unreadable: {e}")))?;
    let file = TableFile {
        headroom: TableHeader {
            info: TableInfo {
                source: origin.to_owned(),
                version: "downloaded".to_owned(),
                date: date.to_owned(),
            },
            additions: embedded.headroom.additions,
        },
        models,
    };
    // Everything a table is checked for (rates positive and plausible) before it is kept.
    let text = serde_json::to_string(&file).map_err(|e| invalid(e.to_string()))?;
    parse_table_file(origin, &text).map_err(UpdateError::Invalid)?;
    Ok(file)
}

/// Writes `file` to `path` atomically (a temporary file beside it, then a rename), so a
/// reader sees the old table or the new one, never half of one.
pub fn install(path: &Path, file: &TableFile) -> Result<PriceTable, UpdateError> {
    let write_err = |source| UpdateError::Write {
        path: path.to_owned(),
        source,
    };
    let text = serde_json::to_string_pretty(file)
        .map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
    let table =
        parse_table_file(&path.display().to_string(), &text).map_err(UpdateError::Invalid)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut out = std::fs::File::create(&tmp)?;
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(e));
    }
    Ok(table)
}

/// Whether an automatic update is due: none was attempted in the last day. `stamp` is a file
/// touched at every attempt, successful or not, so a failing network costs one try a day.
pub fn auto_update_due(stamp: &Path, now: std::time::SystemTime) -> bool {
    let Ok(modified) = std::fs::metadata(stamp).and_then(|m| m.modified()) else {
        return true;
    };
    // A stamp in the future (clock set back) is not a reason to wait forever.
    match now.duration_since(modified) {
        Ok(age) => age >= Duration::from_secs(24 * 3600),
        Err(_) => true,
    }
}

/// Fetches from `from`, checks and installs, as `headroom prices update` does.
pub fn fetch_and_install(
    from: &str,
    path: &Path,
    date: &str,
    timeout: Duration,
) -> Result<TableFile, UpdateError> {
    let bytes = read_source(from, timeout)?;
    let file = extract(from, &bytes, date)?;
    install(path, &file)?;
    Ok(file)
}
