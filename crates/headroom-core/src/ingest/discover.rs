//! Finding the transcripts: every `projects/**/*.jsonl` under the Claude config folders,
//! following symlinks to regular files and to folders not walked yet, and reporting what is
//! skipped (FIFOs, devices, sockets, loops) instead of reading it.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

#[cfg(unix)]
use super::read::identity;
use super::{Discovery, IngestError, SkipReason, SkippedEntry, TranscriptFile};

/// Every `projects/**/*.jsonl` under the given Claude config folders. Folders that do not
/// exist are passed over; if none has a `projects` folder, that is an error naming them all.
/// Symlinks are followed when they lead to a regular file or a folder not already walked.
pub fn discover(roots: &[PathBuf]) -> Result<Discovery, IngestError> {
    let mut walker = Walker::default();
    let mut any_root = false;
    for root in roots {
        let projects = root.join("projects");
        let Ok(meta) = std::fs::metadata(&projects) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        any_root = true;
        walker.enter(&projects, &projects, &meta);
    }
    if !any_root {
        return Err(IngestError::NoTranscripts {
            looked_in: roots.iter().map(|r| r.join("projects")).collect(),
        });
    }
    let Walker {
        mut files, skipped, ..
    } = walker;
    // Byte order, not `Path`'s component-wise order: same result for dedup, far cheaper.
    files.sort_unstable_by(|a, b| {
        a.path
            .as_os_str()
            .as_encoded_bytes()
            .cmp(b.path.as_os_str().as_encoded_bytes())
    });
    files.dedup_by(|a, b| a.path == b.path);
    Ok(Discovery { files, skipped })
}

/// What identifies a folder, to notice one reached twice.
#[cfg(unix)]
type FolderId = (u64, u64);
#[cfg(not(unix))]
type FolderId = PathBuf;

#[cfg(unix)]
fn folder_id(path: &Path, meta: &Metadata) -> Option<FolderId> {
    identity(path, None, meta).ok()
}

#[cfg(not(unix))]
fn folder_id(path: &Path, _meta: &Metadata) -> Option<FolderId> {
    std::fs::canonicalize(path).ok()
}

#[derive(Default)]
struct Walker {
    files: Vec<TranscriptFile>,
    skipped: Vec<SkippedEntry>,
    /// Every folder walked, with the path it was first walked through.
    walked: HashMap<FolderId, PathBuf>,
    /// The folders containing the one being walked.
    parents: Vec<FolderId>,
}

impl Walker {
    /// Walks `dir` unless it is one of its own parents (a loop) or was walked already.
    fn enter(&mut self, projects: &Path, dir: &Path, meta: &Metadata) {
        let Some(id) = folder_id(dir, meta) else {
            tracing::warn!(dir = %dir.display(), "cannot identify transcript folder");
            return;
        };
        if self.parents.contains(&id) {
            self.skip(dir, SkipReason::Loop);
            return;
        }
        if let Some(first) = self.walked.get(&id) {
            let path = first.clone();
            self.skip(dir, SkipReason::SameAs { path });
            return;
        }
        #[cfg_attr(
            unix,
            expect(clippy::clone_on_copy, reason = "a `PathBuf` off Unix, a copy on Unix")
        )]
        self.walked.insert(id.clone(), dir.to_owned());
        self.parents.push(id);
        self.walk(projects, dir);
        self.parents.pop();
    }

    fn skip(&mut self, path: &Path, reason: SkipReason) {
        self.skipped.push(SkippedEntry {
            path: path.to_owned(),
            reason,
        });
    }

    fn walk(&mut self, projects: &Path, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            tracing::warn!(dir = %dir.display(), "cannot list transcript folder");
            return;
        };
        // In name order, so that which of two paths to one folder is walked is the same
        // every run (the path decides the project a transcript is filed under).
        let mut entries: Vec<std::fs::DirEntry> = entries.flatten().collect();
        entries.sort_unstable_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let is_transcript = path.extension().is_some_and(|e| e == "jsonl");
            let meta = if kind.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(meta) => Some(meta),
                    Err(err) if is_loop(&err) => {
                        self.skip(&path, SkipReason::Loop);
                        continue;
                    }
                    Err(_) => {
                        // Dangling: listed, so that reading it reports why it cannot be read.
                        if is_transcript {
                            self.push(projects, path);
                        }
                        continue;
                    }
                }
            } else {
                None
            };
            let kind = meta.as_ref().map_or(kind, Metadata::file_type);
            if kind.is_dir() {
                let meta = match meta {
                    Some(meta) => meta,
                    None => match entry.metadata() {
                        Ok(meta) => meta,
                        Err(_) => continue,
                    },
                };
                self.enter(projects, &path, &meta);
            } else if is_transcript {
                if kind.is_file() {
                    self.push(projects, path);
                } else {
                    self.skip(
                        &path,
                        SkipReason::NotRegular {
                            kind: kind_name(&kind),
                        },
                    );
                }
            }
        }
    }

    fn push(&mut self, projects: &Path, path: PathBuf) {
        if let Some(file) = classify_path(projects, path) {
            self.files.push(file);
        }
    }
}

#[cfg(unix)]
fn is_loop(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(not(unix))]
fn is_loop(_err: &io::Error) -> bool {
    false
}

#[cfg(unix)]
pub(super) fn kind_name(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
pub(super) fn kind_name(_kind: &std::fs::FileType) -> &'static str {
    "a special file"
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
