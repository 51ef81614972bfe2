//! Plain-text tables that fit the terminal, with colour only where it is wanted.

use std::io::IsTerminal;

use headroom_core::text::{is_unsafe_char, printable};

/// Whether to colour output: only on a terminal, never with `NO_COLOR` set (no-color.org).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub color: bool,
}

impl Style {
    pub(crate) fn detect(no_color_flag: bool) -> Style {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color_flag && !no_color_env && std::io::stdout().is_terminal(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        let text = printable(text);
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.into_owned()
        }
    }

    pub(crate) fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    pub(crate) fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
    pub(crate) fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    pub(crate) fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    pub(crate) fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
}

/// The terminal's width: `COLUMNS` when exported (it wins, as with `ls`), else the width of the
/// terminal stdout writes to, else 120 (a file or a pipe gets the full table). Shells set
/// `COLUMNS` without exporting it, so the terminal itself is what usually answers.
pub(crate) fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w: &usize| *w >= 20)
        .or_else(|| {
            console::Term::stdout()
                .size_checked()
                .map(|(_rows, columns)| usize::from(columns))
        })
        .unwrap_or(120)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A table: a header, rows of cells (each possibly styled), right-aligned numbers.
pub(crate) struct Table {
    headers: Vec<(String, Align)>,
    rows: Vec<Row>,
}

enum Row {
    Cells(Vec<(String, String)>), // (plain text for width, styled text)
    Rule,
}

impl Table {
    pub(crate) fn new(headers: &[(&str, Align)]) -> Table {
        Table {
            headers: headers.iter().map(|(h, a)| ((*h).to_owned(), *a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of plain cells. Cells hold names taken from data (models, projects,
    /// sessions): control and bidi characters in them print as U+FFFD, never reach the
    /// terminal (audit N18).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(Row::Cells(
            cells
                .into_iter()
                .map(|c| {
                    let c = printable(&c).into_owned();
                    (c.clone(), c)
                })
                .collect(),
        ));
    }

    /// Adds a row whose cells carry styling: `(plain, styled)`. Of the styled text, only the
    /// colour sequences (`ESC [ … m`) pass; every other control or bidi character prints as
    /// U+FFFD, as in [`Table::row`].
    pub(crate) fn styled_row(&mut self, cells: Vec<(String, String)>) {
        self.rows.push(Row::Cells(
            cells
                .into_iter()
                .map(|(plain, styled)| (printable(&plain).into_owned(), only_colour(&styled)))
                .collect(),
        ));
    }

    pub(crate) fn rule(&mut self) {
        self.rows.push(Row::Rule);
    }

    pub(crate) fn render(&self, style: &Style) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|(h, _)| width(h)).collect();
        for row in &self.rows {
            if let Row::Cells(cells) = row {
                for (i, (plain, _)) in cells.iter().enumerate() {
                    if let Some(w) = widths.get_mut(i) {
                        *w = (*w).max(width(plain));
                    }
                }
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[(String, String)]| {
            let mut parts = Vec::new();
            for (i, (plain, styled)) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(width(plain));
                let cell = match self.headers[i].1 {
                    Align::Left => format!("{styled}{}", " ".repeat(pad)),
                    Align::Right => format!("{}{styled}", " ".repeat(pad)),
                };
                parts.push(cell);
            }
            out.push_str(parts.join("  ").trim_end());
            out.push('\n');
        };
        let header: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(h, _)| (h.clone(), style.bold(h)))
            .collect();
        line(&mut out, &header);
        let total: usize = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        let rule = style.dim(&"─".repeat(total));
        out.push_str(&rule);
        out.push('\n');
        for row in &self.rows {
            match row {
                Row::Cells(cells) => line(&mut out, cells),
                Row::Rule => {
                    out.push_str(&rule);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// `styled` with its colour sequences (`ESC [ digits/semicolons m`) kept and every other
/// [`is_unsafe_char`] replaced by U+FFFD.
fn only_colour(styled: &str) -> String {
    let mut out = String::with_capacity(styled.len());
    let mut rest = styled;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b' {
            let body = &rest[1..];
            let params = body.strip_prefix('[').map(|p| {
                p.len()
                    - p.trim_start_matches(|d: char| d.is_ascii_digit() || d == ';')
                        .len()
            });
            if let Some(n) = params {
                if body[1 + n..].starts_with('m') {
                    out.push_str(&rest[..n + 3]);
                    rest = &rest[n + 3..];
                    continue;
                }
            }
        }
        out.push(if is_unsafe_char(c) { '\u{FFFD}' } else { c });
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// `12,345,678` (the core's `text::group_thousands`, so tables and messages agree).
pub(crate) fn thousands(n: u64) -> String {
    headroom_core::text::group_thousands(n)
}

/// `12.3M`, `456K`, `789`: for narrow layouts.
pub(crate) fn short(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.0}K", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.2}B", n as f64 / 1e9),
    }
}

pub(crate) fn dollars(x: f64) -> String {
    format!("${x:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(100), "100");
        assert_eq!(short(12_345_678), "12.3M");
        assert_eq!(short(45_600), "46K");
        assert_eq!(dollars(3.456), "$3.46");
    }

    #[test]
    fn tables_align_without_colour() {
        let mut t = Table::new(&[("Date", Align::Left), ("Cost", Align::Right)]);
        t.row(vec!["2026-11-20".into(), "$1.00".into()]);
        t.row(vec!["Total".into(), "$10.00".into()]);
        let out = t.render(&Style { color: false });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "Date          Cost");
        assert_eq!(lines[2], "2026-11-20   $1.00");
        assert_eq!(lines[3], "Total       $10.00");
        assert!(!out.contains('\x1b'));
    }

    #[test]
    fn data_never_drives_the_terminal() {
        let hostile = "claude\x1b]0;pwned\x07\x1b[2J\u{202E}x";
        let style = Style { color: true };
        let mut t = Table::new(&[("Model", Align::Left), ("Cost", Align::Right)]);
        t.row(vec![hostile.into(), "$1.00".into()]);
        t.styled_row(vec![
            (hostile.into(), style.bold(hostile)),
            ("$2.00".into(), format!("{hostile}{}", style.red("$2.00"))),
        ]);
        let out = t.render(&style);
        assert!(!out.contains('\x07') && !out.contains("\x1b]") && !out.contains("\x1b[2J"));
        assert!(!out.contains('\u{202E}'));
        assert!(out.contains("claude\u{FFFD}]0;pwned\u{FFFD}\u{FFFD}[2J\u{FFFD}x"));
        // The table's own colours still pass.
        assert!(out.contains("\x1b[31m$2.00\x1b[0m"));
    }
}
