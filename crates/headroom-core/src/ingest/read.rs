//! Reading one transcript: open it safely (regular files only, never past the size it had
//! when stat'ed), stream it in fixed chunks from the committed offset, parse only the lines
//! that carry usage, and price each response. Runs on every core; the results go to the one
//! writer in `super`.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use memchr::memmem;

use super::discover::kind_name;
use super::{Claim, FileResult, Parsed, ReadFailure, SkipReason, Task, HEAD_BYTES, MAX_LINE};
use crate::ledger::FileState;
use crate::pricing::PriceTable;
use crate::transcript::{
    parse_line, parse_line_from, InvalidLine, LineOutcome, UsageLine, USAGE_KEY,
};

/// A file's identity, `(device, inode)` or its equivalent: a file renamed or replaced under
/// the same path gets another one, a file appended to keeps it. `file` is the file opened,
/// when the caller has it open; `meta` is its metadata (or the path's, when it is not open).
///
/// On Unix, `st_dev` and `st_ino`.
#[cfg(unix)]
pub(super) fn identity(
    _path: &Path,
    _file: Option<&File>,
    meta: &std::fs::Metadata,
) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Ok((meta.dev(), meta.ino()))
}

/// On Windows, the volume's serial number and the file's index, from
/// `GetFileInformationByHandle` (through `winapi-util`'s safe wrapper; std's
/// `MetadataExt::volume_serial_number` is unstable): NTFS's inode. The creation time,
/// used before, is no identity: NTFS "tunnelling" gives a file recreated under the same name
/// within 15 s its predecessor's creation time, FAT and some shares keep none, and Wine
/// reports the change time there, so every append looked like a new file read from byte 0.
/// (ReFS has 128-bit file ids; its 64-bit index is still unique within a volume in practice.)
#[cfg(windows)]
pub(super) fn identity(
    path: &Path,
    file: Option<&File>,
    _meta: &std::fs::Metadata,
) -> io::Result<(u64, u64)> {
    let info = match file {
        Some(file) => winapi_util::file::information(file)?,
        // std opens files shared for reading, writing and deleting: Claude Code appending to
        // or replacing the file is never in the way (nor the other way round).
        None => winapi_util::file::information(File::open(path)?)?,
    };
    Ok((info.volume_serial_number(), info.file_index()))
}

/// Elsewhere (no inodes, no file index): the creation time stands for the identity.
#[cfg(not(any(unix, windows)))]
pub(super) fn identity(
    _path: &Path,
    _file: Option<&File>,
    meta: &std::fs::Metadata,
) -> io::Result<(u64, u64)> {
    let created = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    Ok((0, created))
}

pub(super) fn read_task(
    index: usize,
    task: &Task<'_>,
    prices: &PriceTable,
    buf: &mut [u8],
) -> FileResult {
    let mut result = FileResult {
        task: index,
        claimed: HashMap::default(),
        last_price: None,
        entries: Vec::new(),
        cwd: None,
        outcome: Err(ReadFailure::Io(String::new())),
        bad: HashMap::new(),
        unknown_models: HashSet::new(),
        bytes: 0,
    };
    result.outcome = match open_regular(task) {
        Ok(file) => read_file(file, task, prices, buf, &mut result)
            .map_err(|e| ReadFailure::Io(e.to_string())),
        Err(failure) => Err(failure),
    };
    result
}

/// Opens the task's file, and only if it is still the regular file that was stat'ed.
///
/// On Unix the file is opened with `O_NONBLOCK`, so that a FIFO put in its place since
/// (opening a FIFO for reading blocks until a writer comes) is opened at once and then
/// refused. The flag is left set: clearing it takes `fcntl`, which needs `unsafe` (forbidden
/// in this workspace), and reads of a regular file ignore it (POSIX: they never return
/// `EAGAIN`). `O_NOCTTY` keeps a terminal device from becoming our controlling terminal.
fn open_regular(task: &Task<'_>) -> Result<File, ReadFailure> {
    let io = |e: io::Error| ReadFailure::Io(e.to_string());
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(&task.file.path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        let kind = kind_name(&meta.file_type());
        return Err(ReadFailure::Skipped(SkipReason::NotRegular { kind }));
    }
    if identity(&task.file.path, Some(&file), &meta).map_err(io)? != (task.device, task.inode) {
        return Err(ReadFailure::Io(
            "replaced while being read; it is read again next time".to_owned(),
        ));
    }
    Ok(file)
}

fn read_file(
    mut file: File,
    task: &Task<'_>,
    prices: &PriceTable,
    buf: &mut [u8],
    out: &mut FileResult,
) -> io::Result<FileState> {
    let mut start = task.start;
    let mut bad_lines = task.bad_lines_before;
    if start > 0 {
        let head = read_head(&mut file, start.min(HEAD_BYTES))?;
        if Some(xxhash_rust::xxh3::xxh3_64(&head)) != task.expected_head {
            // Same inode, other content: the file was rewritten. Read it all again.
            start = 0;
            bad_lines = 0;
        }
    }
    file.seek(SeekFrom::Start(start))?;
    let finders = KeyFinders::new();
    let path_key = task.file.path.to_string_lossy();
    // Never past the size measured when the file was stat'ed: what is appended meanwhile is
    // for the next run, and a file that never ends cannot hold this one up.
    let mut remaining = task.size.saturating_sub(start);
    let mut len = 0; // bytes of buf holding data
    let mut base = start; // file offset of buf[0]: always the start of a line
                          // A line longer than the buffer, being streamed past.
    let mut long: Option<LongLine> = None;
    loop {
        if len == buf.len() {
            // The buffer holds the start of one line and no newline: stream the rest.
            let mut line = LongLine::new(base);
            line.feed(&buf[..len], &finders);
            base += len as u64;
            len = 0;
            long = Some(line);
        }
        let room = (buf.len() - len).min(usize::try_from(remaining).unwrap_or(usize::MAX));
        if room == 0 {
            break;
        }
        let n = match file.read(&mut buf[len..len + room]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        remaining -= n as u64;
        out.bytes += n as u64;
        let mut searched_from = len;
        len += n;
        if let Some(line) = &mut long {
            // Only this line's bytes are in the buffer (`len` was 0 before the read).
            let Some(end) = memchr::memchr(b'\n', &buf[..len]) else {
                line.feed(&buf[..len], &finders);
                base += len as u64;
                len = 0;
                continue;
            };
            line.feed(&buf[..end], &finders);
            let resume = file.stream_position()?;
            bad_lines += line.finish(&mut file, &path_key, prices, out)?;
            file.seek(SeekFrom::Start(resume))?;
            long = None;
            base += end as u64 + 1;
            buf.copy_within(end + 1..len, 0);
            len -= end + 1;
            searched_from = 0;
        }
        let Some(last_newline) = memchr::memrchr(b'\n', &buf[searched_from..len]) else {
            continue;
        };
        let complete = searched_from + last_newline + 1;
        bad_lines += scan(
            &buf[..complete],
            base,
            &finders,
            &path_key,
            prices,
            out,
            false,
        );
        base += complete as u64;
        buf.copy_within(complete..len, 0);
        len -= complete;
    }
    let end = base + len as u64;
    let offset = match &long {
        // A long line without its newline yet: the offset stays at its start, and it is
        // neither counted nor parsed until it is complete.
        Some(line) => line.start,
        None => {
            // A last line without its newline may still be being written: count it if it is
            // already a whole valid line (dedup makes that safe when it is read again), but
            // keep the offset.
            if len > 0 {
                scan(&buf[..len], base, &finders, &path_key, prices, out, true);
            }
            base
        }
    };
    let head = read_head(&mut file, offset.min(HEAD_BYTES))?;
    Ok(FileState {
        device: task.device,
        inode: task.inode,
        size: end,
        offset,
        head_hash: xxhash_rust::xxh3::xxh3_64(&head),
        bad_lines,
    })
}

/// What is known of a line too long for the buffer while it streams past: enough to judge
/// it as `scan` judges a line, without keeping it.
struct LongLine {
    /// File offset of its first byte.
    start: u64,
    len: u64,
    first: Option<u8>,
    last: Option<u8>,
    has_usage: bool,
    /// The last bytes seen, to find `USAGE_KEY` across two pieces.
    carry: Vec<u8>,
}

impl LongLine {
    fn new(start: u64) -> LongLine {
        LongLine {
            start,
            len: 0,
            first: None,
            last: None,
            has_usage: false,
            carry: Vec::with_capacity(2 * USAGE_KEY.len()),
        }
    }

    fn feed(&mut self, piece: &[u8], finders: &KeyFinders) {
        self.len += piece.len() as u64;
        let not_space = |b: &&u8| !b.is_ascii_whitespace();
        if self.first.is_none() {
            self.first = piece.iter().find(not_space).copied();
        }
        if let Some(last) = piece.iter().rev().find(not_space) {
            self.last = Some(*last);
        }
        if !self.has_usage {
            let head = &piece[..piece.len().min(USAGE_KEY.len() - 1)];
            self.carry.extend_from_slice(head);
            self.has_usage =
                finders.usage.find(&self.carry).is_some() || finders.usage.find(piece).is_some();
        }
        let keep = USAGE_KEY.len() - 1;
        if piece.len() >= keep {
            self.carry.clear();
            self.carry.extend_from_slice(&piece[piece.len() - keep..]);
        } else {
            let drop = self.carry.len().saturating_sub(keep);
            self.carry.drain(..drop);
        }
    }

    /// Judges the whole line (its newline just found). Returns the number of bad lines (0 or 1).
    fn finish(
        &self,
        file: &mut File,
        path_key: &str,
        prices: &PriceTable,
        out: &mut FileResult,
    ) -> io::Result<u64> {
        let problem = if self.len > MAX_LINE {
            Some(InvalidLine::TooLong)
        } else if self.has_usage {
            // Parsed straight from the file: only the fields kept are copied.
            file.seek(SeekFrom::Start(self.start))?;
            let reader = BufReader::with_capacity(64 << 10, (&*file).take(self.len));
            match parse_line_from(reader) {
                LineOutcome::Usage(usage) => {
                    record_usage(usage, self.start, path_key, prices, out, None);
                    None
                }
                LineOutcome::NoUsage => None,
                LineOutcome::Invalid(kind) => Some(kind),
            }
        } else {
            match (self.first, self.last) {
                (None, _) => Some(InvalidLine::Empty),
                (Some(b'{'), Some(b'}')) => None,
                _ => Some(InvalidLine::NotJson),
            }
        };
        Ok(match problem {
            Some(kind) => {
                *out.bad.entry(kind).or_default() += 1;
                1
            }
            None => 0,
        })
    }
}

fn read_head(file: &mut File, len: u64) -> io::Result<Vec<u8>> {
    let mut head = vec![0; len as usize];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut head)?;
    Ok(head)
}

/// Parses the usage lines of `region` (whole lines). Returns the number of bad lines.
fn scan(
    region: &[u8],
    base: u64,
    finders: &KeyFinders,
    path_key: &str,
    prices: &PriceTable,
    out: &mut FileResult,
    tail: bool,
) -> u64 {
    let mut bad = 0;
    let mut line_start = 0;
    while line_start < region.len() {
        let line_end =
            memchr::memchr(b'\n', &region[line_start..]).map_or(region.len(), |p| line_start + p);
        let line = &region[line_start..line_end];
        let offset = base + line_start as u64;
        line_start = line_end + 1;
        let Some(usage_at) = finders.usage.find(line) else {
            if !tail {
                if let Some(kind) = shape_problem(line) {
                    *out.bad.entry(kind).or_default() += 1;
                    bad += 1;
                }
            }
            continue;
        };
        // Claude Code writes one line per content block of a response. A later row whose
        // usage object is byte for byte the one kept (older versions repeat the final usage
        // on every row) changes nothing and needs no parsing; any other is parsed, and kept
        // if its usage supersedes (streaming snapshots first, the final usage last).
        let usage = usage_digest(&line[usage_at + USAGE_KEY.len()..]);
        if usage.is_some()
            && quick_key(line, finders)
                .and_then(|key| out.claimed.get(&key))
                .is_some_and(|claim| claim.usage == usage)
        {
            continue;
        }
        match parse_line(line) {
            LineOutcome::Usage(parsed) => {
                record_usage(parsed, offset, path_key, prices, out, usage)
            }
            LineOutcome::NoUsage => {}
            LineOutcome::Invalid(kind) => {
                if !tail {
                    *out.bad.entry(kind).or_default() += 1;
                    bad += 1;
                }
            }
        }
    }
    bad
}

/// Keeps a parsed response (the line at `offset` of the file `path_key`) and its advisor
/// calls, or, for a key already read from this file, the usage that supersedes.
/// `usage` is the digest of the line's usage object, where known.
fn record_usage(
    usage: UsageLine<'_>,
    offset: u64,
    path_key: &str,
    prices: &PriceTable,
    out: &mut FileResult,
    digest: Option<u64>,
) {
    let key = match usage.dedup_key() {
        Some((message, request)) => hash_key(&[b"id", message.as_bytes(), request.as_bytes()]),
        None => hash_key(&[b"line", path_key.as_bytes(), &offset.to_le_bytes()]),
    };
    let model = usage.model.as_deref().unwrap_or("unknown");
    let (model_name, calc_cost) =
        price_response(out, prices, model, usage.fast, usage.us_only, &usage.tokens);
    if out.cwd.is_none() {
        out.cwd = usage.cwd.as_deref().map(str::to_owned);
    }
    // A forked session's copy of an earlier row counts under the session it was taken from.
    let session: Option<Arc<str>> = usage.forked_from.as_deref().map(Arc::from);
    keep(
        out,
        key,
        digest,
        Parsed {
            key,
            ts_ms: usage.timestamp_ms,
            model: model_name,
            session: session.clone(),
            tokens: usage.tokens,
            cost_usd: usage.cost_usd,
            calc_cost,
            us_only: usage.us_only,
        },
    );
    // Advisor calls are API calls of their own, on their own model: one entry each, keyed on
    // the response and the call's position (so other rows of the response do not count them
    // twice). They run inside the request, so in its inference geo.
    for (index, advisor) in usage.advisors.iter().enumerate() {
        let (model_name, calc_cost) = price_response(
            out,
            prices,
            &advisor.model,
            false,
            usage.us_only,
            &advisor.tokens,
        );
        let advisor_key = hash_key(&[b"advisor", &key.to_le_bytes(), &index.to_le_bytes()]);
        keep(
            out,
            advisor_key,
            None,
            Parsed {
                key: advisor_key,
                ts_ms: usage.timestamp_ms,
                model: model_name,
                session: session.clone(),
                tokens: advisor.tokens,
                cost_usd: None,
                calc_cost,
                us_only: usage.us_only,
            },
        );
    }
}

/// Keeps `parsed` as the response `key` of this file, or takes its usage into the one kept
/// when it supersedes it (see [`Parsed::take_usage`]).
fn keep(out: &mut FileResult, key: i64, digest: Option<u64>, parsed: Parsed) {
    match out.claimed.get_mut(&key) {
        Some(claim) => {
            let kept = &mut out.entries[claim.index];
            if parsed.tokens.supersedes(&kept.tokens) {
                kept.take_usage(parsed);
                claim.usage = digest;
            }
        }
        None => {
            out.claimed.insert(
                key,
                Claim {
                    index: out.entries.len(),
                    usage: digest,
                },
            );
            out.entries.push(parsed);
        }
    }
}

/// The name a response is stored under (`<model>-fast` in fast mode, as ccusage names it) and
/// its cost (with the US-only premium when `us_only`); a model without a complete price is
/// noted. The last model's price is kept, so a
/// file's lines (rarely of more than one model) resolve their model once, not once per line.
fn price_response(
    out: &mut FileResult,
    prices: &PriceTable,
    model: &str,
    fast: bool,
    us_only: bool,
    tokens: &crate::transcript::Tokens,
) -> (std::sync::Arc<str>, f64) {
    let priced = match &out.last_price {
        Some((raw, was_fast, name, priced)) if &**raw == model && *was_fast == fast => {
            (name.clone(), *priced)
        }
        _ => {
            let name: std::sync::Arc<str> = if fast {
                format!("{model}{}", crate::pricing::FAST_SUFFIX).into()
            } else {
                model.into()
            };
            let priced = prices.resolve(&name);
            out.last_price = Some((model.into(), fast, name.clone(), priced));
            (name, priced)
        }
    };
    let (name, priced) = priced;
    if !priced.is_complete()
        && !crate::pricing::is_placeholder_model(model)
        && !out.unknown_models.contains(&*name)
    {
        out.unknown_models.insert(name.to_string());
    }
    let cost = priced
        .price()
        .map_or(0.0, |p| p.response_cost(tokens, us_only));
    (name, cost)
}

/// Lines without a usage key are not parsed; those that cannot be a JSON object are counted.
fn shape_problem(line: &[u8]) -> Option<InvalidLine> {
    let trimmed = line.trim_ascii();
    match (trimmed.first(), trimmed.last()) {
        (None, _) => Some(InvalidLine::Empty),
        (Some(b'{'), Some(b'}')) => None,
        _ => Some(InvalidLine::NotJson),
    }
}

/// The dedup key of a line as Claude Code lays it out (`"message":{"id":"…"` and
/// `"requestId":"…"`), found without parsing. Only used to skip lines whose key a fully
/// parsed line of the same file has already claimed; any other layout just gets parsed.
fn quick_key(line: &[u8], finders: &KeyFinders) -> Option<i64> {
    fn value_after<'l>(line: &'l [u8], finder: &memmem::Finder<'_>) -> Option<&'l [u8]> {
        let start = finder.find(line)? + finder.needle().len();
        let len = memchr::memchr2(b'"', b'\\', &line[start..])?;
        (line.get(start + len) == Some(&b'"')).then(|| &line[start..start + len])
    }
    let message = value_after(line, &finders.message_id)?;
    let request = value_after(line, &finders.request_id)?;
    Some(hash_key(&[b"id", message, request]))
}

/// A digest of a usage object as written: `value` is what follows a line's first `"usage":`
/// key, and the digest covers it up to the brace that closes it. `None` when it is not an
/// object that closes on the line. Two rows of a response with equal digests carry equal
/// usage: in Claude Code's layout the first such key of an assistant row is its message's
/// usage (a content block that held another object under that name is in that row alone, so
/// its digest matches no other row's).
fn usage_digest(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii_start();
    if value.first() != Some(&b'{') {
        return None;
    }
    // Only braces and strings matter: jump from one to the next.
    let mut depth = 0u32;
    let mut at = 0;
    while let Some(found) = memchr::memchr3(b'{', b'}', b'"', &value[at..]) {
        at += found;
        match value[at] {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(xxhash_rust::xxh3::xxh3_64(&value[..=at]));
                }
            }
            _ => {
                // A string: to its closing quote, past escaped characters.
                loop {
                    at += 1 + memchr::memchr2(b'"', b'\\', value.get(at + 1..)?)?;
                    if value[at] == b'"' {
                        break;
                    }
                    at += 1;
                }
            }
        }
        at += 1;
    }
    None
}

/// Searchers built once per file rather than once per line.
struct KeyFinders {
    usage: memmem::Finder<'static>,

    message_id: memmem::Finder<'static>,
    request_id: memmem::Finder<'static>,
}

impl KeyFinders {
    fn new() -> Self {
        KeyFinders {
            usage: memmem::Finder::new(USAGE_KEY),

            message_id: memmem::Finder::new(b"\"message\":{\"id\":\""),
            request_id: memmem::Finder::new(b"\"requestId\":\""),
        }
    }
}

fn hash_key(parts: &[&[u8]]) -> i64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.digest() as i64
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File, OpenOptions};
    use std::io::Write;
    use std::path::Path;

    use super::{identity, usage_digest};

    fn identity_at(path: &Path) -> (u64, u64) {
        let meta = fs::metadata(path).unwrap();
        identity(path, None, &meta).unwrap()
    }

    // Windows' identity was the creation time, which Wine moves on every append: an appended
    // transcript was read again from byte 0 (`scripts/test-windows.sh` runs this under Wine).
    #[test]
    fn a_file_keeps_its_identity_when_appended_to_and_a_file_put_in_its_place_gets_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.jsonl");
        fs::write(&path, "{\"first\":1}\n").unwrap();
        let first = identity_at(&path);

        let mut appender = OpenOptions::new().append(true).open(&path).unwrap();
        appender.write_all(b"{\"second\":2}\n").unwrap();
        appender.sync_all().unwrap();
        drop(appender);
        assert_eq!(identity_at(&path), first, "appended");
        let open = File::open(&path).unwrap();
        let meta = open.metadata().unwrap();
        assert_eq!(
            identity(&path, Some(&open), &meta).unwrap(),
            first,
            "through the open file"
        );
        drop(open);

        // Written beside it and renamed over it, as an editor or a rewrite does.
        let replacement = dir.path().join("session.jsonl.new");
        fs::write(&replacement, "{\"first\":1}\n").unwrap();
        fs::rename(&replacement, &path).unwrap();
        assert_ne!(identity_at(&path), first, "replaced");
    }

    #[test]
    fn a_usage_digest_covers_the_object_to_its_closing_brace() {
        let row = |usage: &str, tail: &str| format!(r#"{usage},"requestId":"r","uuid":"{tail}"}}"#);
        let nested = r#" {"input_tokens":3,"cache_creation":{"ephemeral_5m_input_tokens":1},"service_tier":"a}\"{","output_tokens":9}"#;
        let a = row(nested, "u1");
        let b = row(nested, "u2");
        // Other fields after the object do not count; braces and escaped quotes in strings
        // do not close it.
        assert_eq!(usage_digest(a.as_bytes()), usage_digest(b.as_bytes()));
        assert!(usage_digest(a.as_bytes()).is_some());
        let other = row(&nested.replace(":9}", ":10}"), "u1");
        assert_ne!(usage_digest(a.as_bytes()), usage_digest(other.as_bytes()));
        // Not an object, or one that never closes: no digest (the row is parsed).
        assert_eq!(usage_digest(br#""none","x":1}"#), None);
        assert_eq!(usage_digest(br#"{"input_tokens":3,"s":"}"#), None);
    }
}
