//! Finds Claude Code transcripts and brings what is new in them into the ledger.
//!
//! Each run stats every transcript and reads only bytes past the offset the ledger committed
//! for it; a file that shrank, was replaced (another inode, or other first bytes) is read again
//! from the start, and deduplication keeps the counts right. Offsets advance only past a
//! newline, so a line Claude Code is still writing is read again once it is complete.
//!
//! Reading is streamed in 1 MiB chunks on every core; only lines that contain a `"usage":` key
//! are parsed (most bytes are tool output), other lines are only checked for the shape of a
//! JSON object so that garbage is counted. One thread writes to SQLite.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use memchr::memmem;

use crate::ledger::{Batch, FileState, KeyHash, Ledger, LedgerError, NewEntry};
use crate::pricing::PriceTable;
use crate::transcript::{parse_line, InvalidLine, LineOutcome, USAGE_KEY};

const CHUNK: usize = 1 << 20;
/// Longest line kept in memory; longer lines (none seen in practice) are skipped and counted.
const MAX_LINE: usize = 64 << 20;
/// Bytes of a file's start hashed to notice a file replaced in place.
const HEAD_BYTES: u64 = 4096;
/// Responses handed to SQLite at a time, and per transaction, during a long ingest.
const FLUSH_EVERY: usize = 25_000;
const COMMIT_EVERY: usize = 100_000;

/// One transcript file and where it belongs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TranscriptFile {
    pub path: PathBuf,
    /// The project folder's name under `projects/` (Claude Code's encoding of the cwd).
    pub project: String,
    /// The session: the file's name without `.jsonl` (or the session folder of a subagent).
    pub session: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no Claude Code transcripts found; looked in {}", .looked_in.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoTranscripts { looked_in: Vec<PathBuf> },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// What one ingest run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestReport {
    pub files_seen: u64,
    pub files_read: u64,
    pub bytes_read: u64,
    pub new_entries: u64,
    /// Skipped lines by reason, in the files read this run.
    pub bad_lines: BTreeMap<String, u64>,
    /// Files that could not be read, with the reason; the rest were still counted.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Models with no known price (their cost counts as zero).
    pub unknown_models: BTreeSet<String>,
}

impl IngestReport {
    pub fn bad_line_total(&self) -> u64 {
        self.bad_lines.values().sum()
    }
}

/// Every `projects/**/*.jsonl` under the given Claude config folders. Folders that do not
/// exist are passed over; if none has a `projects` folder, that is an error naming them all.
pub fn discover(roots: &[PathBuf]) -> Result<Vec<TranscriptFile>, IngestError> {
    let mut files = Vec::new();
    let mut any_root = false;
    for root in roots {
        let projects = root.join("projects");
        if !projects.is_dir() {
            continue;
        }
        any_root = true;
        walk(&projects, &projects, &mut files);
    }
    if !any_root {
        return Err(IngestError::NoTranscripts {
            looked_in: roots.iter().map(|r| r.join("projects")).collect(),
        });
    }
    // Byte order, not `Path`'s component-wise order: same result for dedup, far cheaper.
    files.sort_unstable_by(|a, b| {
        a.path
            .as_os_str()
            .as_encoded_bytes()
            .cmp(b.path.as_os_str().as_encoded_bytes())
    });
    files.dedup_by(|a, b| a.path == b.path);
    Ok(files)
}

fn walk(projects: &Path, dir: &Path, out: &mut Vec<TranscriptFile>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        tracing::warn!(dir = %dir.display(), "cannot list transcript folder");
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(projects, &path, out);
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            if let Some(file) = classify_path(projects, path) {
                out.push(file);
            }
        }
    }
}

fn classify_path(projects: &Path, path: PathBuf) -> Option<TranscriptFile> {
    let relative = path.strip_prefix(projects).ok()?;
    let mut parts = relative.iter();
    let project = parts.next()?.to_string_lossy().into_owned();
    let next = parts.next()?;
    let session = Path::new(next)
        .file_stem()
        .unwrap_or(next)
        .to_string_lossy()
        .into_owned();
    Some(TranscriptFile {
        path,
        project,
        session,
    })
}

/// A file with something new to read.
struct Task<'f> {
    file: &'f TranscriptFile,
    start: u64,
    device: u64,
    inode: u64,
    size: u64,
    bad_lines_before: u64,
    /// Hash of the first bytes when the file was last read.
    expected_head: Option<u64>,
}

/// What a worker read from one file.
struct FileResult {
    task: usize,
    /// Dedup keys of the valid responses read from this file.
    claimed: HashSet<i64, KeyHash>,
    /// The last model priced (as written, fast or not), its stored name and its price: a file
    /// rarely changes model.
    last_price: Option<(
        std::sync::Arc<str>,
        bool,
        std::sync::Arc<str>,
        crate::pricing::Priced,
    )>,
    entries: Vec<Parsed>,
    cwd: Option<String>,
    outcome: Result<FileState, String>,
    bad: HashMap<InvalidLine, u64>,
    unknown_models: HashSet<String>,
    bytes: u64,
}

struct Parsed {
    key: i64,
    ts_ms: i64,
    /// Shared with the other responses of the same model in the file: no copy per response.
    model: std::sync::Arc<str>,
    tokens: crate::transcript::Tokens,
    cost_usd: Option<f64>,
    calc_cost: f64,
}

/// Brings every new line of `files` into the ledger.
pub fn ingest(
    ledger: &mut Ledger,
    files: &[TranscriptFile],
    prices: &PriceTable,
) -> Result<IngestReport, IngestError> {
    ledger.reprice(prices)?;
    let states = ledger.file_states()?;
    let mut report = IngestReport {
        files_seen: files.len() as u64,
        ..IngestReport::default()
    };
    let mut tasks = Vec::new();
    for file in files {
        let meta = match std::fs::metadata(&file.path) {
            Ok(meta) => meta,
            Err(err) => {
                report.unreadable.push((file.path.clone(), err.to_string()));
                continue;
            }
        };
        let (device, inode) = identity(&meta);
        let size = meta.len();
        let previous = states.get(file.path.to_string_lossy().as_ref());
        let start = match previous {
            Some(s) if s.device == device && s.inode == inode && s.size == size => continue,
            Some(s) if s.device == device && s.inode == inode && size >= s.offset => s.offset,
            _ => 0,
        };
        tasks.push(Task {
            file,
            start,
            device,
            inode,
            size,
            bad_lines_before: previous.filter(|_| start > 0).map_or(0, |s| s.bad_lines),
            expected_head: previous.map(|s| s.head_hash),
        });
    }
    // Biggest first, so two workers finish together.
    tasks.sort_by_key(|t| std::cmp::Reverse(t.size - t.start));
    if tasks.is_empty() {
        ledger.record_unpriced(prices)?;
        return Ok(report);
    }

    // WAL checkpoints are left to SQLite: they then happen between batches, while the readers
    // keep going (measured: 0.75 s instead of 0.85 s for 1 GB, against one checkpoint at the end).
    // One reader per core; this thread writes to SQLite meanwhile (measured: fewer readers
    // leave the writer waiting, as reading and parsing is the larger half of the work).
    let workers = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(1, 8)
        .min(tasks.len());
    let next = AtomicUsize::new(0);
    // Roomy, so readers keep going while the writer commits (results are small).
    let (sender, receiver) = mpsc::sync_channel::<FileResult>(256);
    std::thread::scope(|scope| -> Result<(), IngestError> {
        for _ in 0..workers {
            let sender = sender.clone();
            let (tasks, next) = (&tasks, &next);
            scope.spawn(move || {
                // One read buffer per worker, reused for every file.
                let mut buf = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(task) = tasks.get(index) else {
                        break;
                    };
                    let result = read_task(index, task, prices, &mut buf);
                    if sender.send(result).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        write_results(ledger, &tasks, receiver, &mut report)
    })?;
    ledger.record_unpriced(prices)?;
    Ok(report)
}

fn write_results(
    ledger: &mut Ledger,
    tasks: &[Task<'_>],
    receiver: mpsc::Receiver<FileResult>,
    report: &mut IngestReport,
) -> Result<(), IngestError> {
    let mut seen: HashSet<i64, KeyHash> = HashSet::default();
    let mut pending = Pending::default();
    let mut cwds: Vec<Option<String>> = vec![None; tasks.len()];
    // Rows go to SQLite in chunks (little memory on this side), but are committed less often:
    // each commit rewrites the key arrays that gained keys.
    let mut batch = ledger.batch()?;
    let mut written = 0;
    for mut result in receiver {
        let task = &tasks[result.task];
        report.bytes_read += result.bytes;
        report.files_read += 1;
        for (kind, count) in &result.bad {
            *report.bad_lines.entry(kind.to_string()).or_default() += count;
        }
        report.unknown_models.extend(result.unknown_models.drain());
        match result.outcome {
            Ok(state) => pending.states.push((result.task, state)),
            Err(reason) => {
                tracing::warn!(file = %task.file.path.display(), %reason, "cannot read transcript");
                // What was read before the error still counts; the offset stays where it was,
                // so the next run tries the rest again.
                report.unreadable.push((task.file.path.clone(), reason));
            }
        }
        cwds[result.task] = result.cwd.take();
        for parsed in result.entries {
            if seen.insert(parsed.key) {
                pending.entries.push((result.task, parsed));
            }
        }
        if pending.entries.len() >= FLUSH_EVERY {
            written += pending.entries.len();
            report.new_entries += pending.flush(&mut batch, tasks, &cwds)?;
            if written >= COMMIT_EVERY {
                batch.commit()?;
                batch = ledger.batch()?;
                written = 0;
            }
        }
    }
    report.new_entries += pending.flush(&mut batch, tasks, &cwds)?;
    batch.commit()?;
    Ok(())
}

/// Responses and file offsets waiting to be committed together.
#[derive(Default)]
struct Pending {
    entries: Vec<(usize, Parsed)>,
    states: Vec<(usize, FileState)>,
}

impl Pending {
    /// Writes the responses and the offsets they reach into `batch`.
    fn flush(
        &mut self,
        batch: &mut Batch<'_>,
        tasks: &[Task<'_>],
        cwds: &[Option<String>],
    ) -> Result<u64, IngestError> {
        let mut rows: Vec<NewEntry<'_>> = self
            .entries
            .iter()
            .map(|(task, parsed)| {
                let file = tasks[*task].file;
                NewEntry {
                    key: parsed.key,
                    ts_ms: parsed.ts_ms,
                    model: &parsed.model,
                    project: &file.project,
                    session: &file.session,
                    cwd: cwds[*task].as_deref(),
                    tokens: parsed.tokens,
                    cost_usd: parsed.cost_usd,
                    calc_cost: parsed.calc_cost,
                }
            })
            .collect();
        let inserted = batch.insert_many(&mut rows)?;
        drop(rows);
        self.entries.clear();
        for (task, state) in self.states.drain(..) {
            batch.set_file_state(&tasks[task].file.path, &state)?;
        }
        Ok(inserted)
    }
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    // Without inodes, a file's creation time stands for its identity.
    let created = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    (0, created)
}

fn read_task(index: usize, task: &Task<'_>, prices: &PriceTable, buf: &mut Vec<u8>) -> FileResult {
    let mut result = FileResult {
        task: index,
        claimed: HashSet::default(),
        last_price: None,
        entries: Vec::new(),
        cwd: None,
        outcome: Err(String::new()),
        bad: HashMap::new(),
        unknown_models: HashSet::new(),
        bytes: 0,
    };
    result.outcome = read_file(task, prices, buf, &mut result).map_err(|e| e.to_string());
    result
}

fn read_file(
    task: &Task<'_>,
    prices: &PriceTable,
    buf: &mut Vec<u8>,
    out: &mut FileResult,
) -> io::Result<FileState> {
    let mut file = File::open(&task.file.path)?;
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
    if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    let mut len = 0; // bytes of buf holding data
    let mut base = start; // file offset of buf[0]
    let mut skipping_long_line = false;
    loop {
        if len == buf.len() {
            if buf.len() < MAX_LINE {
                // A line longer than the buffer: make room for it.
                let grown = buf.len() * 2;
                buf.resize(grown, 0);
            } else {
                // Past the cap: drop the line's bytes as they come; it ends at the next newline.
                base += len as u64;
                len = 0;
                if !skipping_long_line {
                    *out.bad.entry(InvalidLine::NotJson).or_default() += 1;
                    bad_lines += 1;
                }
                skipping_long_line = true;
            }
        }
        let n = match file.read(&mut buf[len..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.bytes += n as u64;
        if n == 0 {
            break;
        }
        let searched_from = len;
        len += n;
        let Some(last_newline) = memchr::memrchr(b'\n', &buf[searched_from..len]) else {
            continue;
        };
        let complete = searched_from + last_newline + 1;
        let first_line_end = if skipping_long_line {
            skipping_long_line = false;
            memchr::memchr(b'\n', &buf[..complete]).map_or(0, |p| p + 1)
        } else {
            0
        };
        bad_lines += scan(
            &buf[first_line_end..complete],
            base + first_line_end as u64,
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
    // A last line without its newline may still be being written: count it if it is already
    // a whole valid line (dedup makes that safe when it is read again), but keep the offset.
    if len > 0 && !skipping_long_line {
        scan(&buf[..len], base, &finders, &path_key, prices, out, true);
    }
    let head = read_head(&mut file, base.min(HEAD_BYTES))?;
    Ok(FileState {
        device: task.device,
        inode: task.inode,
        size: base + len as u64,
        offset: base,
        head_hash: xxhash_rust::xxh3::xxh3_64(&head),
        bad_lines,
    })
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
        if finders.usage.find(line).is_none() {
            if !tail {
                if let Some(kind) = shape_problem(line) {
                    *out.bad.entry(kind).or_default() += 1;
                    bad += 1;
                }
            }
            continue;
        }
        // Claude Code writes one line per content block of a response: once one copy has
        // been parsed and claimed its key, the others need no parsing at all.
        if quick_key(line, finders).is_some_and(|key| out.claimed.contains(&key)) {
            continue;
        }
        match parse_line(line) {
            LineOutcome::Usage(usage) => {
                let key = match usage.dedup_key() {
                    Some((message, request)) => {
                        hash_key(&[b"id", message.as_bytes(), request.as_bytes()])
                    }
                    None => hash_key(&[b"line", path_key.as_bytes(), &offset.to_le_bytes()]),
                };
                let model = usage.model.as_deref().unwrap_or("unknown");
                let (model_name, calc_cost) =
                    price_response(out, prices, model, usage.fast, &usage.tokens);
                if out.cwd.is_none() {
                    out.cwd = usage.cwd.as_deref().map(str::to_owned);
                }
                out.claimed.insert(key);
                out.entries.push(Parsed {
                    key,
                    ts_ms: usage.timestamp_ms,
                    model: model_name,
                    tokens: usage.tokens,
                    cost_usd: usage.cost_usd,
                    calc_cost,
                });
                // Advisor calls are API calls of their own, on their own model: one entry
                // each, keyed on the response and the call's position (so duplicates of the
                // response do not count them twice).
                for (index, advisor) in usage.advisors.iter().enumerate() {
                    let (model_name, calc_cost) =
                        price_response(out, prices, &advisor.model, false, &advisor.tokens);
                    out.entries.push(Parsed {
                        key: hash_key(&[b"advisor", &key.to_le_bytes(), &index.to_le_bytes()]),
                        ts_ms: usage.timestamp_ms,
                        model: model_name,
                        tokens: advisor.tokens,
                        cost_usd: None,
                        calc_cost,
                    });
                }
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

/// The name a response is stored under (`<model>-fast` in fast mode, as ccusage names it) and
/// its cost; a model without a complete price is noted. The last model's price is kept, so a
/// file's lines (rarely of more than one model) resolve their model once, not once per line.
fn price_response(
    out: &mut FileResult,
    prices: &PriceTable,
    model: &str,
    fast: bool,
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
    let cost = priced.price().map_or(0.0, |p| p.cost(tokens));
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
