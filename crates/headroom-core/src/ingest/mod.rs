//! Finds Claude Code transcripts and brings what is new in them into the ledger.
//!
//! Each run stats every transcript and reads only bytes past the offset the ledger committed
//! for it; a file that shrank, was replaced (another inode, or other first bytes) is read again
//! from the start, and deduplication keeps the counts right.
//!
//! Each response counts once, with its final usage: of the rows that share its key (one per
//! content block, the earlier ones carrying a streaming snapshot), the one whose usage
//! supersedes the others (`Tokens::supersedes`: the largest total, the later row on a tie)
//! gives the counts, wherever and whenever it is read: in the same file (the reader), in
//! another file of the same run (the writer's `Pending`), or in a later run (the ledger
//! updates the stored response, see `ledger::batch`). The response keeps the time and session
//! of its first row; a forked session's copies count under the session they came from. Offsets advance only past a
//! newline, so a line Claude Code is still writing is read again once it is complete.
//!
//! Reading is streamed in 1 MiB chunks on every core; only lines that contain a `"usage":` key
//! are parsed (most bytes are tool output), other lines are only checked for the shape of a
//! JSON object so that garbage is counted. A line longer than the buffer is streamed past
//! (and parsed from the file if it carries usage), so memory stays at one buffer per reader
//! whatever the input. One thread writes to SQLite, in short transactions opened only once
//! results are in hand: the ledger's write lock is never held while a file is read.
//!
//! Only regular files are read: FIFOs, devices and sockets (or symlinks to them) are
//! skipped and reported, as are symlinked folders that loop; a file reached through two
//! paths (a symlinked folder, a root listed twice) is read once. No file is read past the
//! size it had when it was stat'ed, so a file that never ends (`/dev/zero`) cannot stall a run.
//!
//! This file holds the run (`ingest`) and the one writer; beside it: `discover` (finding the
//! transcripts) and `read` (reading and parsing one file, on every core).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::ledger::{Batch, FileState, KeyHash, Ledger, LedgerError, NewEntry};
use crate::pricing::PriceTable;
use crate::transcript::InvalidLine;

mod discover;
mod read;

pub use discover::discover;

use discover::kind_name;
use read::{identity, read_task};

/// Each reader's buffer, which never grows: a longer line is streamed past (see `LongLine`).
const CHUNK: usize = 1 << 20;
/// Longest line accepted; longer lines (none seen in practice) are skipped whole and counted.
const MAX_LINE: u64 = 64 << 20;
/// Bytes of a file's start hashed to notice a file replaced in place.
const HEAD_BYTES: u64 = 4096;
/// Responses per write transaction during a long ingest: large enough that the per-commit
/// cost (key arrays, aggregates) stays small, small enough that the write lock is held for
/// a few tens of milliseconds at a time (other processes wait for it, see `ledger`).
const FLUSH_EVERY: usize = 25_000;
/// Readers' results waiting for the writer, at most.
const RESULTS_IN_FLIGHT: usize = 1024;
/// Responses read but not yet taken by the writer, at most (about 100 bytes each), whatever
/// the number of files that hold them; a file with more is still sent, alone.
const RESPONSES_IN_FLIGHT: usize = 100_000;
/// SQLite's page cache during an ingest, in KiB (the ledger's own is 16 MB).
const INGEST_PAGE_CACHE_KIB: i64 = 8 << 10;
/// Results waiting this long with no new one arriving are committed anyway: a reader stuck on
/// a slow disk must not keep the others' work uncommitted.
const FLUSH_AFTER: Duration = Duration::from_millis(500);

/// One transcript file and where it belongs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TranscriptFile {
    /// The file.
    pub path: PathBuf,
    /// The project folder's name under `projects/` (Claude Code's encoding of the cwd).
    pub project: String,
    /// The session: the file's name without `.jsonl` (or the session folder of a subagent).
    pub session: String,
}

/// Why an ingest run did not happen; a file that cannot be read is reported, not an error.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No transcript folder exists.
    #[error("no Claude Code transcripts found; looked in {}", .looked_in.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoTranscripts {
        /// The folders looked in.
        looked_in: Vec<PathBuf>,
    },
    /// The ledger could not be read or written.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// What one ingest run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestReport {
    /// Transcript files found.
    pub files_seen: u64,
    /// Files that had something new to read.
    pub files_read: u64,
    /// Bytes read from them.
    pub bytes_read: u64,
    /// Responses added to the ledger (duplicates not counted).
    pub new_entries: u64,
    /// Stored responses given the larger usage of a later row (their final usage, which
    /// Claude Code writes after a streaming snapshot, often in a later read).
    pub updated_entries: u64,
    /// Skipped lines by reason, in the files read this run.
    pub bad_lines: BTreeMap<String, u64>,
    /// Files that could not be read, with the reason; the rest were still counted.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Models with no known price (their cost counts as zero).
    pub unknown_models: BTreeSet<String>,
    /// Entries under the transcript roots that were not read, each named once.
    pub skipped: Vec<SkippedEntry>,
}

/// An entry under a transcript root that is not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    /// The entry's path.
    pub path: PathBuf,
    /// Why it was not read.
    pub reason: SkipReason,
}

/// Why an entry under a transcript root was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A FIFO, device or socket (or a symlink to one): reading it could block forever or
    /// never end.
    NotRegular {
        /// What it is: `a FIFO`, `a device`, `a socket`.
        kind: &'static str,
    },
    /// A symlink that leads back to a folder containing it, or a chain of symlinks that
    /// never ends.
    Loop,
    /// The same file or folder as another path, which is the one read.
    SameAs {
        /// The path that is read.
        path: PathBuf,
    },
}

impl SkippedEntry {
    /// Whether the user should hear of it: an entry read through another path is not a problem.
    pub fn is_problem(&self) -> bool {
        !matches!(self.reason, SkipReason::SameAs { .. })
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotRegular { kind } => write!(f, "{kind}, not a regular file"),
            SkipReason::Loop => f.write_str("a symlink loop"),
            SkipReason::SameAs { path } => write!(f, "the same as {}", path.display()),
        }
    }
}

/// The transcripts found under the roots, and the entries passed over.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    /// The transcript files, each once.
    pub files: Vec<TranscriptFile>,
    /// The entries passed over.
    pub skipped: Vec<SkippedEntry>,
}

impl IngestReport {
    /// Skipped lines of every reason together.
    pub fn bad_line_total(&self) -> u64 {
        self.bad_lines.values().sum()
    }
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
    /// Dedup keys of the valid responses read from this file, with where each is kept.
    claimed: HashMap<i64, Claim, KeyHash>,
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
    outcome: Result<FileState, ReadFailure>,
    bad: HashMap<InvalidLine, u64>,
    unknown_models: HashSet<String>,
    bytes: u64,
}

/// Why a file was not read to its end.
enum ReadFailure {
    /// Not a regular file once opened (it was replaced since it was stat'ed).
    Skipped(SkipReason),
    Io(String),
}

/// Where a file's reader keeps a response, and the digest of the usage object it kept (see
/// `read::usage_digest`), which lets later rows with the same usage go unparsed.
struct Claim {
    index: usize,
    usage: Option<u64>,
}

struct Parsed {
    key: i64,
    /// The time of the response's first row: the time it keeps (see `ledger::batch`).
    ts_ms: i64,
    /// Shared with the other responses of the same model in the file: no copy per response.
    model: std::sync::Arc<str>,
    /// The session of a row a forked session copied (`forkedFrom.sessionId`), which the
    /// response counts under; `None` for the file's own session.
    session: Option<std::sync::Arc<str>>,
    tokens: crate::transcript::Tokens,
    cost_usd: Option<f64>,
    calc_cost: f64,
    /// Ran US-only (`inference_geo: "us"`): stored, so a reprice keeps the premium.
    us_only: bool,
}

impl Parsed {
    /// Takes the usage of a later row of the same response (see [`NewEntry::take_usage`]).
    fn take_usage(&mut self, later: Parsed) {
        self.model = later.model;
        self.tokens = later.tokens;
        self.cost_usd = later.cost_usd;
        self.calc_cost = later.calc_cost;
        self.us_only = later.us_only;
    }
}

/// Brings every new line of the discovered files into the ledger.
pub fn ingest(
    ledger: &mut Ledger,
    discovery: &Discovery,
    prices: &PriceTable,
) -> Result<IngestReport, IngestError> {
    let files = &discovery.files;
    // Every write of an ingest waits for other ingesters while they make progress (see
    // `Ledger::patiently`): the data is in hand, and failing would only lose the work.
    ledger.patiently(|l| l.reprice(prices))?;
    let states = ledger.file_states()?;
    let mut report = IngestReport {
        files_seen: files.len() as u64,
        skipped: discovery.skipped.clone(),
        ..IngestReport::default()
    };
    let mut tasks = Vec::new();
    // Files already taken, by identity: a file reached through two paths is read once.
    let mut taken: HashMap<(u64, u64), &Path> = HashMap::new();
    for file in files {
        let meta = match std::fs::metadata(&file.path) {
            Ok(meta) => meta,
            Err(err) => {
                report.unreadable.push((file.path.clone(), err.to_string()));
                continue;
            }
        };
        if !meta.is_file() {
            // Replaced by something else since it was listed.
            let kind = kind_name(&meta.file_type());
            report.skipped.push(SkippedEntry {
                path: file.path.clone(),
                reason: SkipReason::NotRegular { kind },
            });
            continue;
        }
        let (device, inode) = match identity(&file.path, None, &meta) {
            Ok(id) => id,
            Err(err) => {
                report.unreadable.push((file.path.clone(), err.to_string()));
                continue;
            }
        };
        // Hard links share the identity on Unix and on Windows; elsewhere it is not one.
        if cfg!(any(unix, windows)) {
            if let Some(first) = taken.insert((device, inode), &file.path) {
                // Keep the first path (in byte order): the same one every run.
                taken.insert((device, inode), first);
                report.skipped.push(SkippedEntry {
                    path: file.path.clone(),
                    reason: SkipReason::SameAs {
                        path: first.to_owned(),
                    },
                });
                continue;
            }
        }
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
        ledger.patiently(|l| l.record_unpriced(prices))?;
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
    let in_flight = InFlight::default();
    // Roomy, so readers keep going while the writer commits (results are small: about 6 KB
    // for a file of 60 responses). With 256, two readers filled it in about 60 ms, less than a
    // commit of `FLUSH_EVERY` responses takes on a loaded machine, and then stood idle
    // (measured: readers at 0 % for whole 100 ms windows of a 1 GB ingest).
    let (sender, receiver) = mpsc::sync_channel::<FileResult>(RESULTS_IN_FLIGHT);
    // The memory for those results comes out of SQLite's page cache during the run: the
    // pages a commit touches (the key arrays, the aggregates, the end of `entries`) take a few
    // MB, and the pages appended before are never read again by an ingest.
    let cache_before = shrink_page_cache(ledger);
    let written = std::thread::scope(|scope| -> Result<(), IngestError> {
        for _ in 0..workers {
            let sender = sender.clone();
            let (tasks, next, in_flight) = (&tasks, &next, &in_flight);
            scope.spawn(move || {
                // One read buffer per worker, reused for every file.
                let mut buf = vec![0; CHUNK];
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(task) = tasks.get(index) else {
                        break;
                    };
                    let result = read_task(index, task, prices, &mut buf);
                    if !in_flight.reserve(result.entries.len()) || sender.send(result).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        // However the writer stops (an error included), readers waiting for room stop too.
        let _close = CloseOnDrop(&in_flight);
        write_results(ledger, &tasks, receiver, &in_flight, &mut report)
    });
    restore_page_cache(ledger, cache_before);
    written?;
    ledger.patiently(|l| l.record_unpriced(prices))?;
    Ok(report)
}

/// Responses the readers have sent and the writer has not taken yet: the bound on what fast
/// readers and a slow writer hold between them ([`RESPONSES_IN_FLIGHT`]).
#[derive(Default)]
struct InFlight {
    /// Responses in flight, and whether the writer has stopped.
    state: std::sync::Mutex<(usize, bool)>,
    taken: std::sync::Condvar,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, bool)> {
        // The state is two plain numbers, sound even if a holder panicked.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for room for `responses`; false once the writer has stopped.
    fn reserve(&self, responses: usize) -> bool {
        let mut state = self.lock();
        while !state.1 && state.0 > 0 && state.0 + responses > RESPONSES_IN_FLIGHT {
            state = self
                .taken
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        if state.1 {
            return false;
        }
        state.0 += responses;
        true
    }

    fn release(&self, responses: usize) {
        let mut state = self.lock();
        state.0 = state.0.saturating_sub(responses);
        drop(state);
        self.taken.notify_all();
    }
}

/// Marks the writer stopped when dropped, waking every waiting reader.
struct CloseOnDrop<'a>(&'a InFlight);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.lock().1 = true;
        self.0.taken.notify_all();
    }
}

/// Shrinks the ledger connection's page cache for an ingest; returns the size to put back.
fn shrink_page_cache(ledger: &Ledger) -> Option<i64> {
    // `cache_size` is pages when positive, -KiB when negative.
    let before = ledger
        .read(|conn| conn.pragma_query_value(None, "cache_size", |row| row.get::<_, i64>(0)))
        .ok()
        .filter(|&before| before < -INGEST_PAGE_CACHE_KIB)?;
    match ledger.read(|conn| conn.pragma_update(None, "cache_size", -INGEST_PAGE_CACHE_KIB)) {
        Ok(()) => Some(before),
        Err(e) => {
            tracing::debug!(error = %e, "cannot shrink the page cache for ingest");
            None
        }
    }
}

fn restore_page_cache(ledger: &Ledger, before: Option<i64>) {
    if let Some(before) = before {
        if let Err(e) = ledger.read(|conn| conn.pragma_update(None, "cache_size", before)) {
            tracing::debug!(error = %e, "cannot restore the page cache after ingest");
        }
    }
}

/// Stores the readers' results. No transaction is open while waiting for them: the write
/// lock is taken only to write what is in hand, then released, so other Headroom processes
/// (the statusline, another ingest) wait for it a few milliseconds at most, and a reader
/// stalled on a slow disk never blocks them.
fn write_results(
    ledger: &mut Ledger,
    tasks: &[Task<'_>],
    receiver: mpsc::Receiver<FileResult>,
    in_flight: &InFlight,
    report: &mut IngestReport,
) -> Result<(), IngestError> {
    let mut pending = Pending::default();
    let mut cwds: Vec<Option<String>> = vec![None; tasks.len()];
    let mut open = true;
    while open {
        let mut waited_long = false;
        let mut ready = match receiver.recv_timeout(FLUSH_AFTER) {
            Ok(result) => Some(result),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                waited_long = true;
                None
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                open = false;
                None
            }
        };
        while let Some(mut result) = ready.take() {
            in_flight.release(result.entries.len());
            let task = &tasks[result.task];
            report.bytes_read += result.bytes;
            report.files_read += 1;
            for (kind, count) in &result.bad {
                *report.bad_lines.entry(kind.to_string()).or_default() += count;
            }
            report.unknown_models.extend(result.unknown_models.drain());
            match result.outcome {
                Ok(state) => pending.states.push((result.task, state)),
                Err(ReadFailure::Skipped(reason)) => report.skipped.push(SkippedEntry {
                    path: task.file.path.clone(),
                    reason,
                }),
                Err(ReadFailure::Io(reason)) => {
                    tracing::warn!(file = %task.file.path.display(), %reason, "cannot read transcript");
                    // What was read before the error still counts; the offset stays where it
                    // was, so the next run tries the rest again.
                    report.unreadable.push((task.file.path.clone(), reason));
                }
            }
            cwds[result.task] = result.cwd.take();
            for parsed in result.entries {
                pending.add(result.task, parsed);
            }
            if pending.entries.len() >= FLUSH_EVERY {
                break;
            }
            ready = match receiver.try_recv() {
                Ok(result) => Some(result),
                Err(mpsc::TryRecvError::Empty) => None,
                Err(mpsc::TryRecvError::Disconnected) => {
                    open = false;
                    None
                }
            };
        }
        let due = pending.entries.len() >= FLUSH_EVERY || !open || waited_long;
        if due && !pending.is_empty() {
            let (inserted, updated) = pending.commit(ledger, tasks, &cwds)?;
            report.new_entries += inserted;
            report.updated_entries += updated;
        }
    }
    Ok(())
}

/// Responses and file offsets waiting to be committed together.
#[derive(Default)]
struct Pending {
    entries: Vec<(usize, Parsed)>,
    /// Where each key's response is in `entries`: rows of one response read from several
    /// files (a fork's copies) are one entry, the first file's, with the usage that
    /// supersedes.
    index: HashMap<i64, usize, KeyHash>,
    states: Vec<(usize, FileState)>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.states.is_empty()
    }

    fn add(&mut self, task: usize, parsed: Parsed) {
        match self.index.get(&parsed.key) {
            Some(&at) => {
                let kept = &mut self.entries[at].1;
                if parsed.tokens.supersedes(&kept.tokens) {
                    kept.take_usage(parsed);
                }
            }
            None => {
                self.index.insert(parsed.key, self.entries.len());
                self.entries.push((task, parsed));
            }
        }
    }

    /// Commits the responses and the offsets they reach, in transactions of at most
    /// `FLUSH_EVERY` responses, so that one huge file does not hold the lock for long. The
    /// offsets go with the last one: a run stopped between two reads those files again from
    /// their old offsets, and the keys already stored keep their responses from counting twice.
    /// A transaction that cannot get the lock is run again whole (`Ledger::patiently`).
    /// Returns how many responses were stored, and how many stored ones updated.
    fn commit(
        &mut self,
        ledger: &mut Ledger,
        tasks: &[Task<'_>],
        cwds: &[Option<String>],
    ) -> Result<(u64, u64), IngestError> {
        let (mut inserted, mut updated) = (0, 0);
        let written = |batch: Batch<'_>| {
            let updated = batch.updated();
            batch.commit().map(|inserted| (inserted, updated))
        };
        while self.entries.len() > FLUSH_EVERY {
            let rest = self.entries.split_off(FLUSH_EVERY);
            let (i, u) = ledger.patiently(|l| {
                let mut batch = l.batch()?;
                Self::insert(&self.entries, &mut batch, tasks, cwds)?;
                written(batch)
            })?;
            (inserted, updated) = (inserted + i, updated + u);
            self.entries = rest;
        }
        let (i, u) = ledger.patiently(|l| {
            let mut batch = l.batch()?;
            Self::insert(&self.entries, &mut batch, tasks, cwds)?;
            for (task, state) in &self.states {
                batch.set_file_state(&tasks[*task].file.path, state)?;
            }
            written(batch)
        })?;
        self.entries.clear();
        self.index.clear();
        self.states.clear();
        Ok((inserted + i, updated + u))
    }

    fn insert(
        entries: &[(usize, Parsed)],
        batch: &mut Batch<'_>,
        tasks: &[Task<'_>],
        cwds: &[Option<String>],
    ) -> Result<u64, LedgerError> {
        let mut rows: Vec<NewEntry<'_>> = entries
            .iter()
            .map(|(task, parsed)| {
                let file = tasks[*task].file;
                NewEntry {
                    key: parsed.key,
                    ts_ms: parsed.ts_ms,
                    model: &parsed.model,
                    project: &file.project,
                    session: parsed.session.as_deref().unwrap_or(&file.session),
                    cwd: cwds[*task].as_deref(),
                    tokens: parsed.tokens,
                    cost_usd: parsed.cost_usd,
                    calc_cost: parsed.calc_cost,
                    us_only: parsed.us_only,
                }
            })
            .collect();
        batch.insert_many(&mut rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_wait_for_room_and_stop_with_the_writer() {
        let in_flight = InFlight::default();
        // One file larger than the bound still goes, when nothing else is in flight.
        assert!(in_flight.reserve(RESPONSES_IN_FLIGHT + 1));
        std::thread::scope(|scope| {
            let waiting = scope.spawn(|| in_flight.reserve(1));
            std::thread::sleep(Duration::from_millis(50));
            assert!(!waiting.is_finished(), "a reader went past a full bound");
            in_flight.release(RESPONSES_IN_FLIGHT + 1);
            assert!(waiting.join().unwrap());
            // A writer that stops (on an error, say) releases every waiting reader.
            assert!(in_flight.reserve(RESPONSES_IN_FLIGHT - 1));
            let waiting = scope.spawn(|| in_flight.reserve(10));
            std::thread::sleep(Duration::from_millis(50));
            drop(CloseOnDrop(&in_flight));
            assert!(!waiting.join().unwrap());
        });
    }
}
