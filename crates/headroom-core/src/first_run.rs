//! What a new user is told while Headroom has nothing to show: which folders were read, what
//! is missing, and the ways to add a source. One text for the CLI (`headroom daily` and the
//! other reports when they find no usage), the tray's first menu row and the settings pane.

use std::path::{Path, PathBuf};

use crate::snapshot::UsageSnapshot;

/// The tray's first row while no source is set up; it opens the pane's Sources section.
pub const CONNECT: &str = "Connect an account source…";

/// The ways to add a source, as (what, how), in the order a new user most likely has them.
pub const WAYS: [(&str, &str); 3] = [
    (
        "Claude Code's login",
        "run `claude` and sign in (`/login`); Headroom reads your limits with that login",
    ),
    (
        "the statusline feed",
        "`headroom statusline --install`; Claude Code then hands Headroom its limit figures on every prompt",
    ),
    (
        "a claude.ai session key",
        "`headroom claude-ai login`; the key is kept in your keychain",
    ),
];

/// Some source of limit figures is set up: Claude Code's login found, a claude.ai key, or a
/// statusline sample seen. Transcripts alone give costs and local estimates, not limits.
pub fn has_source(snapshot: &UsageSnapshot) -> bool {
    snapshot.sources.iter().any(|s| s.configured)
}

/// The tray's first row when no source is set up: what is missing, and where to fix it.
pub fn tray_row(snapshot: &UsageSnapshot) -> Option<String> {
    (!has_source(snapshot)).then(|| format!("No Claude Code login found · {CONNECT}"))
}

/// One transcript folder as it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Folder {
    /// The folder.
    pub path: PathBuf,
    /// `None`: the folder does not exist; else the `.jsonl` files found under it.
    pub files: Option<usize>,
}

/// The `projects` folders under each Claude Code root, and how many transcripts each holds.
pub fn transcript_folders(roots: &[PathBuf]) -> Vec<Folder> {
    roots
        .iter()
        .map(|root| {
            let path = root.join("projects");
            let files = path.is_dir().then(|| count_jsonl(&path, 0));
            Folder { path, files }
        })
        .collect()
}

/// `.jsonl` files under `dir`, at most a few levels down (projects hold sessions, sessions
/// hold subagents); symlinks are not followed, so a loop cannot keep it going.
fn count_jsonl(dir: &Path, depth: usize) -> usize {
    if depth > 4 {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_jsonl(&e.path(), depth + 1),
            Ok(t) if t.is_file() && e.path().extension().is_some_and(|x| x == "jsonl") => 1,
            _ => 0,
        })
        .sum()
}

/// The lines the CLI prints after "No usage found.": the folders it read and the ways to add
/// a source.
pub fn no_usage_help(folders: &[Folder]) -> Vec<String> {
    let mut lines = vec!["Headroom read Claude Code's transcripts in:".to_owned()];
    for f in folders {
        let state = match f.files {
            None => "not found".to_owned(),
            Some(1) => "1 transcript".to_owned(),
            Some(n) => format!("{n} transcripts"),
        };
        lines.push(format!("  {} ({state})", f.path.display()));
    }
    if folders.is_empty() {
        lines.push("  (no folder: set CLAUDE_CONFIG_DIR or HOME)".to_owned());
    }
    lines.push(
        "Usage appears once Claude Code has answered a prompt. For your session and weekly limits, add a source:"
            .to_owned(),
    );
    for (what, how) in WAYS {
        lines.push(format!("  - {what}: {how}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Source, SourceStatus};

    fn status(source: Source, configured: bool) -> SourceStatus {
        SourceStatus {
            source,
            configured,
            last_success_ms: None,
            cooldown_until_ms: None,
            error: None,
        }
    }

    #[test]
    fn a_source_is_any_configured_one() {
        let mut s = UsageSnapshot::default();
        assert!(!has_source(&s));
        assert_eq!(
            tray_row(&s).as_deref(),
            Some("No Claude Code login found · Connect an account source…")
        );
        s.sources.push(status(Source::Account, false));
        assert!(
            !has_source(&s),
            "an account tried but not found is no source"
        );
        s.sources.push(status(Source::Statusline, true));
        assert!(has_source(&s));
        assert_eq!(tray_row(&s), None);
    }

    #[test]
    fn the_help_names_each_folder_and_every_way() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("claude");
        std::fs::create_dir_all(present.join("projects/-p/sess/subagents")).unwrap();
        std::fs::write(present.join("projects/-p/a.jsonl"), "").unwrap();
        std::fs::write(present.join("projects/-p/sess/subagents/b.jsonl"), "").unwrap();
        std::fs::write(present.join("projects/-p/notes.txt"), "").unwrap();
        let absent = dir.path().join("nowhere");
        let folders = transcript_folders(&[present.clone(), absent.clone()]);
        assert_eq!(folders[0].files, Some(2));
        assert_eq!(folders[1].files, None);
        let text = no_usage_help(&folders).join("\n");
        assert!(text.contains(&format!(
            "{} (2 transcripts)",
            present.join("projects").display()
        )));
        assert!(text.contains(&format!(
            "{} (not found)",
            absent.join("projects").display()
        )));
        for needle in [
            "Claude Code's login",
            "headroom statusline --install",
            "headroom claude-ai login",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}
