//! File-system helpers shared by the modules that write files a user or another process reads
//! while they change (settings, Claude Code's `settings.json`, the icon, request files).

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` so that a reader sees the old or the new content, never a mix: a
/// temporary file beside it, fsync, rename over, fsync the folder. The temporary file has an
/// unpredictable name and is created exclusively (`tempfile`), so a planted symlink is not
/// followed and two writers in one process never share one; it is owner-only (0600) from
/// creation on Unix, and removed if anything fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings".into());
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{name}.");
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The whole file when it is at most `max` bytes; `None` when it is missing, unreadable or
/// larger (a file another program owns and may grow without bound, like Claude Code's
/// `.claude.json`, is never read past a known size).
pub fn read_capped(path: &Path, max: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= max).then_some(bytes)
}
