//! `docs/environment.md` names every `HEADROOM_*` variable the code and the scripts read, and
//! only those: a variable added without a line there fails here, and so does a line for one
//! nothing reads any more.

use std::collections::BTreeSet;
use std::path::Path;

/// Every `HEADROOM_[A-Z_]+` in the text.
fn variables(text: &str, into: &mut BTreeSet<String>) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = text[at..].find("HEADROOM_") {
        let start = at + found;
        let mut end = start + "HEADROOM_".len();
        while end < bytes.len() && (bytes[end].is_ascii_uppercase() || bytes[end] == b'_') {
            end += 1;
        }
        let name = text[start..end].trim_end_matches('_');
        if name.len() > "HEADROOM".len() {
            into.insert(name.to_owned());
        }
        at = end;
    }
}

fn walk(dir: &Path, found: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') && name != "node_modules" {
                walk(&path, found);
            }
        } else if [".rs", ".sh", ".py"].iter().any(|ext| name.ends_with(ext)) {
            if let Ok(text) = std::fs::read_to_string(&path) {
                variables(&text, found);
            }
        }
    }
}

#[test]
fn every_headroom_variable_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut used = BTreeSet::new();
    for dir in ["crates", "src-tauri", "tests", "scripts", "fuzz"] {
        walk(&root.join(dir), &mut used);
    }
    assert!(used.contains("HEADROOM_HOME"), "the walk found {used:?}");
    let doc = std::fs::read_to_string(root.join("docs/environment.md")).unwrap();
    let mut documented = BTreeSet::new();
    variables(&doc, &mut documented);
    let missing: Vec<_> = used.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "not in docs/environment.md: {missing:?}"
    );
    let stale: Vec<_> = documented.difference(&used).collect();
    assert!(
        stale.is_empty(),
        "in docs/environment.md, but nothing reads it: {stale:?}"
    );
}
