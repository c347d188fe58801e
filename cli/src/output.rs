//! What the admin commands print: their result on stdout, as aligned plain-text tables. Logs
//! go to stderr through `tracing`; nothing here is a log.

use std::io::Write;

use hilite::config::BackendKind;

/// Write a command's output to stdout. A closed pipe (`hilite clips list | head`) is not an
/// error worth reporting.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("cannot write to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// An error message on one line. Some parsers (TOML) explain with a multi-line snippet and a
/// caret; the position is already in their first line, so the snippet is dropped and the
/// remaining lines are joined.
pub fn one_line(message: &str) -> String {
    let is_snippet = |l: &str| {
        let l = l.trim();
        l.starts_with('|')
            || l.chars().all(|c| c == '^' || c.is_whitespace())
            || l.split_once(" |")
                .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
    };
    let kept: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !is_snippet(l))
        .collect();
    kept.join("; ")
}

pub fn backend_name(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Local => "local",
        BackendKind::Aws => "aws",
    }
}

/// Rows under a header, each column as wide as its widest cell, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(&mut header.iter().copied());
    for row in rows {
        text.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_diagnostic_becomes_one_line() {
        let toml = "configuration: TOML parse error at line 1, column 7\n  |\n1 | [local\n  |       ^\ninvalid table header\nexpected `.`, `]`\n in broken.toml TOML file";
        assert_eq!(
            one_line(toml),
            "configuration: TOML parse error at line 1, column 7; invalid table header; expected `.`, `]`; in broken.toml TOML file"
        );
        assert_eq!(one_line("no account named main"), "no account named main");
    }

    #[test]
    fn columns_line_up_under_their_header() {
        let t = table(
            &["name", "n"],
            &[
                vec!["a".into(), "10".into()],
                vec!["long-name".into(), "2".into()],
            ],
        );
        assert_eq!(t, "name       n\na          10\nlong-name  2\n");
    }
}
