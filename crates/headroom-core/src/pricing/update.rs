//! `headroom prices update`: fetch LiteLLM's current price data, check it, keep its Claude
//! entries in the data folder.
//!
//! This is the one request Headroom sends to a host other than Anthropic's, and it is sent
//! only when the user asks (or sets `prices.auto_update`, then at most daily). It carries no
//! credential, cookie or identifier beyond a user agent. A file that is too big, not JSON, not
//! LiteLLM's table, or has a Claude rate out of bounds (see `ModelPrice::check`) is refused
//! whole; the table in use stays as it was.
//!
//! - **Where from.** `https://` anywhere the user names (`--from`), `http://` only on loopback
//!   (a test server). A redirect must stay on `https` (or loopback `http`) and on the host
//!   first asked; anything else is refused, so a table never comes from a host nobody named.
//! - **Memory.** The answer is capped at [`MAX_BYTES`] and read with its size known where the
//!   server says it; only the Claude entries are parsed (the other entries are skipped
//!   unread), so a 30 MiB file of anything else costs little more than its bytes
//!   (`scripts/bench-prices.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use super::litellm::{is_candidate, KeptEntry};
use super::{
    parse_table_file, PriceTable, PricingError, TableFile, TableHeader, TableInfo, EMBEDDED_JSON,
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
    /// The source is not a URL Headroom fetches from: not `https`, or `http` off loopback, or a
    /// redirect away from the host asked.
    #[error("{url} is refused: {why}; the prices in use are unchanged")]
    Refused {
        /// The URL.
        url: String,
        /// Why.
        why: String,
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

/// Whether a URL is one a price table may come from: `https`, or `http` on loopback (a test
/// server on this machine). Said as the reason when it is not.
pub fn check_url(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if crate::account::client::is_loopback(url) => Ok(()),
        "http" => Err("plain http is accepted only on this machine (loopback); use https".into()),
        other => Err(format!("{other}: is not a web address")),
    }
}

/// The redirect rule: a hop from `first` (the URL asked) to `next` must stay on its host, and
/// on `https` (or loopback `http`). Why not, when it does not.
pub fn redirect_refusal(first: &Url, next: &Url) -> Option<String> {
    if next.host_str() != first.host_str() {
        return Some(format!(
            "it redirects to another host ({})",
            next.host_str().unwrap_or("none")
        ));
    }
    check_url(next)
        .err()
        .map(|why| format!("it redirects to {next}: {why}"))
}

/// [`redirect_refusal`] on every hop; ten hops at most, as reqwest's default.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let refusal = match attempt.previous().first() {
            _ if attempt.previous().len() > 10 => Some("more than 10 redirects".to_owned()),
            Some(first) => redirect_refusal(first, attempt.url()),
            None => None,
        };
        match refusal {
            Some(why) => attempt.error(why),
            None => attempt.follow(),
        }
    })
}

/// Reads a price file from a URL (`https://`, or `http://` on loopback) or a local path,
/// capped at [`MAX_BYTES`].
pub fn read_source(from: &str, timeout: Duration) -> Result<Vec<u8>, UpdateError> {
    if from.starts_with("http://") || from.starts_with("https://") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| UpdateError::Fetch {
                url: from.to_owned(),
                reason: e.to_string(),
            })?;
        return runtime.block_on(fetch(from, timeout));
    }
    let path = Path::new(from);
    let read_err = |source| UpdateError::ReadFile {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    if size > MAX_BYTES as u64 {
        return Err(UpdateError::TooLarge {
            origin: from.to_owned(),
        });
    }
    // Sized up front: growing by doubling would touch up to twice the file's size.
    let mut bytes = Vec::with_capacity(size as usize + 1);
    use std::io::Read;
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() > MAX_BYTES {
        return Err(UpdateError::TooLarge {
            origin: from.to_owned(),
        });
    }
    Ok(bytes)
}

/// Downloads a price file (see [`check_url`] and the redirect rule), capped at [`MAX_BYTES`].
pub async fn fetch(url: &str, timeout: Duration) -> Result<Vec<u8>, UpdateError> {
    let failed = |reason: String| UpdateError::Fetch {
        url: url.to_owned(),
        reason,
    };
    let parsed = Url::parse(url).map_err(|e| UpdateError::Refused {
        url: url.to_owned(),
        why: format!("not a URL ({e})"),
    })?;
    check_url(&parsed).map_err(|why| UpdateError::Refused {
        url: url.to_owned(),
        why,
    })?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("headroom/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout)
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .redirect(redirect_policy())
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let mut response = client.get(parsed).send().await.map_err(|e| {
        if e.is_redirect() {
            UpdateError::Refused {
                url: url.to_owned(),
                why: short_reason(&e),
            }
        } else {
            failed(short_reason(&e))
        }
    })?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(UpdateError::Status {
            url: url.to_owned(),
            status,
        });
    }
    let announced = response.content_length();
    if announced.is_some_and(|n| n > MAX_BYTES as u64) {
        return Err(UpdateError::TooLarge {
            origin: url.to_owned(),
        });
    }
    let mut body = Vec::with_capacity(announced.unwrap_or(0) as usize);
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

/// LiteLLM's top-level map with only the Claude entries kept: every other value is skipped
/// unread ([`serde::de::IgnoredAny`]), and a kept entry keeps only the fields Headroom reads,
/// so neither thousands of other models nor a planted array of millions of numbers is ever
/// built in memory.
struct ClaudeEntries(BTreeMap<String, serde_json::Value>);

impl<'de> serde::Deserialize<'de> for ClaudeEntries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ClaudeEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("LiteLLM's map of model names to prices")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ClaudeEntries, A::Error> {
                let mut kept = BTreeMap::new();
                while let Some(key) = map.next_key::<KeyName<'de>>()? {
                    if is_candidate(&key.0) {
                        let entry: KeptEntry = map.next_value()?;
                        // JSON has no infinity, and serde_json would write one back as null:
                        // said here, before it could vanish from the entry.
                        if let Some((field, _)) = entry.non_finite() {
                            return Err(serde::de::Error::custom(format!(
                                "{} has a {field} that is not a finite number",
                                key.0
                            )));
                        }
                        if let Some(value) = entry.into_value() {
                            kept.insert(key.0.into_owned(), value);
                        }
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(ClaudeEntries(kept))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// A key, borrowed from the input where it has no escapes (no copy of the other keys either).
struct KeyName<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for KeyName<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = KeyName<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a model name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<KeyName<'de>, E> {
                Ok(KeyName(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyName<'de>, E> {
                Ok(KeyName(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// The Claude entries of a LiteLLM price file, checked, as a table file to keep.
pub fn extract(origin: &str, bytes: &[u8], date: &str) -> Result<TableFile, UpdateError> {
    let invalid = |detail: String| {
        UpdateError::Invalid(PricingError::NotATable {
            origin: origin.to_owned(),
            detail,
        })
    };
    let ClaudeEntries(models) =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not JSON ({e})")))?;
    let first_party = models
        .values()
        .filter(|v| v.get("litellm_provider").and_then(|p| p.as_str()) == Some("anthropic"))
        .count();
    if first_party < MIN_FIRST_PARTY {
        return Err(invalid(format!(
            "only {first_party} first-party Claude models in it (truncated, or another file?)"
        )));
    }
    // The overrides (rates LiteLLM lacks, models released since) travel with every table; a
    // model the download has itself wins over its override (pricing/litellm.rs, `select`).
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
    // Everything a table is checked for (every rate within bounds) before it is kept.
    let text = serde_json::to_string(&file).map_err(|e| invalid(e.to_string()))?;
    parse_table_file(origin, &text).map_err(UpdateError::Invalid)?;
    Ok(file)
}

/// Writes `file` to `path` atomically and owner-only ([`crate::fs::write_atomic`]), so a
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
    crate::fs::write_atomic(path, text.as_bytes()).map_err(write_err)?;
    Ok(table)
}

/// Whether an automatic update is due: none was attempted in the last day. `stamp` is a file
/// touched at every attempt, successful or not, so a failing network costs one try a day.
pub fn auto_update_due(stamp: &Path, now: std::time::SystemTime) -> bool {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let now_ms = epoch_ms(now);
    // The attempt's time as this process's clock saw it, written into the stamp: a file's
    // modification time is the kernel's clock, which a faked or corrected process clock does
    // not move (a stamp then looked a day old, or in the future, on every run). An older
    // stamp without it falls back to its modification time.
    let written = std::fs::read_to_string(stamp)
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok());
    let last_ms = match written {
        Some(ms) => ms,
        None => match std::fs::metadata(stamp).and_then(|m| m.modified()) {
            Ok(modified) => epoch_ms(modified),
            Err(_) => return true,
        },
    };
    let age = now_ms.saturating_sub(last_ms);
    // A stamp more than a day in the future (the clock was set back) is not a reason to wait
    // for ever; one less than a day ahead waits as any other.
    age >= DAY_MS || age <= -DAY_MS
}

fn epoch_ms(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
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

/// The file whose time records the last automatic attempt, beside the downloaded table.
pub fn auto_update_stamp(downloaded: &Path) -> PathBuf {
    downloaded.with_extension("attempted")
}

/// `prices.auto_update`, shared by the CLI (before a command) and the tray's service (in its
/// round): at most one attempt a day, recorded in `stamp` before it is made, so a failing
/// network costs one try a day. `None`: not due (or the attempt cannot be recorded, then not
/// made); else what the attempt gave. The caller reloads its prices on success.
pub async fn auto_update(
    url: &str,
    downloaded: &Path,
    stamp: &Path,
    now: std::time::SystemTime,
    date: &str,
) -> Option<Result<TableFile, UpdateError>> {
    if !auto_update_due(stamp, now) {
        return None;
    }
    if let Err(e) = crate::fs::write_atomic(stamp, epoch_ms(now).to_string().as_bytes()) {
        tracing::warn!(
            "cannot record the price update attempt in {}: {e}",
            stamp.display()
        );
        return None;
    }
    let result = async {
        let bytes = fetch(url, Duration::from_secs(10)).await?;
        let file = extract(url, &bytes, date)?;
        install(downloaded, &file)?;
        Ok(file)
    }
    .await;
    Some(result)
}

/// [`auto_update`] for a caller outside any async runtime (the CLI, before its command).
pub fn auto_update_blocking(
    url: &str,
    downloaded: &Path,
    stamp: &Path,
    now: std::time::SystemTime,
    date: &str,
) -> Option<Result<TableFile, UpdateError>> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return Some(Err(UpdateError::Fetch {
                url: url.to_owned(),
                reason: e.to_string(),
            }))
        }
    };
    runtime.block_on(auto_update(url, downloaded, stamp, now, date))
}
