//! The README's command tables and `headroom --help` agree: every command `--help` lists has a
//! row in a README table, every command a row names exists, and every subcommand a row names
//! is in that command's `--help`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The names under "Commands:" in a clap help text (without clap's own `help`).
fn listed_commands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "headroom {args:?} --help: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Names separated by `\|` in a README cell (`daily\|weekly`, `[status]`).
fn alternatives(word: &str) -> Vec<String> {
    word.trim_matches(|c| c == '[' || c == ']')
        .split("\\|")
        .map(str::to_owned)
        .collect()
}

/// (command, subcommands named) of each README table row whose first cell is `headroom …`.
fn readme_rows() -> Vec<(String, Vec<String>)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let mut rows = Vec::new();
    for line in readme.lines() {
        let Some(cell) = line.strip_prefix("| `headroom ") else {
            continue;
        };
        // The first code span of the first cell: `headroom ledger path\|check\|rebuild`.
        let span = cell.split('`').next().unwrap_or_default();
        let mut words = span.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        let subcommands = words
            .next()
            .filter(|w| !w.starts_with('-') && !w.starts_with('<') && !w.starts_with("[-"))
            .map(alternatives)
            .unwrap_or_default();
        for command in alternatives(first) {
            rows.push((command, subcommands.clone()));
        }
    }
    rows
}

#[test]
fn the_readme_command_tables_and_help_agree() {
    let commands = listed_commands(&help(&[]));
    assert!(
        commands.contains("daily"),
        "no commands in --help: {commands:?}"
    );
    let rows = readme_rows();
    let in_readme: BTreeSet<String> = rows.iter().map(|(c, _)| c.clone()).collect();

    let undocumented: Vec<_> = commands.difference(&in_readme).collect();
    assert!(
        undocumented.is_empty(),
        "in `headroom --help` but in no README command table: {undocumented:?}"
    );
    let unknown: Vec<_> = in_readme.difference(&commands).collect();
    assert!(
        unknown.is_empty(),
        "in a README command table but not in `headroom --help`: {unknown:?}"
    );
    for (command, subcommands) in &rows {
        if subcommands.is_empty() {
            continue;
        }
        let listed = listed_commands(&help(&[command]));
        for sub in subcommands {
            assert!(
                listed.contains(sub),
                "the README names `headroom {command} {sub}`, which `headroom {command} --help` \
                 does not list: {listed:?}"
            );
        }
    }
}
