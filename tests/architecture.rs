//! The layers of feegate (docs/design-notes.md, "Layers") checked on the source tree.
//!
//! `api`/`web` → `service` → `store` and `domain`; `domain` imports nothing of the others
//! and no gateway crate; only `store` holds SQL; only `api`/`web` know HTTP. The test reads
//! every `src/**/*.rs`, collects the paths the code names (`use` declarations, grouped
//! imports expanded, and inline paths such as `axum::http::StatusCode`; comments and string
//! literals skipped), and names the file and line of each path a rule forbids.

use std::fmt;
use std::path::{Path, PathBuf};

/// One layer rule: files under `dir` must not name a path starting with any of `forbidden`.
struct Rule {
    /// `""`: every file.
    dir: &'static str,
    /// Files under this directory are exempt.
    except: Option<&'static str>,
    forbidden: &'static [&'static str],
    why: &'static str,
}

const GATEWAY_CRATES: [&str; 5] =
    ["feegate_vietqr", "feegate_vnpay", "feegate_momo", "feegate_zalopay", "feegate_sandbox"];

/// The SQL entry points of sqlx: only `store/` may use them.
const SQL: [&str; 6] =
    ["sqlx::query", "sqlx::query_as", "sqlx::query_scalar", "sqlx::query_with", "sqlx::raw_sql", "sqlx::QueryBuilder"];

fn rules() -> Vec<Rule> {
    let domain: &'static [&'static str] = Box::leak(
        ["crate::service", "crate::store", "crate::api", "crate::web", "crate::cli", "crate::app", "axum", "sqlx"]
            .into_iter()
            .chain(GATEWAY_CRATES)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    vec![
        Rule {
            dir: "domain/",
            except: None,
            forbidden: domain,
            why: "domain/ is pure: no other layer, no HTTP, no SQL, no gateway crate",
        },
        Rule {
            dir: "service/",
            except: None,
            forbidden: &["axum", "utoipa", "crate::api", "crate::web"],
            why: "service/ knows nothing of HTTP or of the API's documents",
        },
        Rule {
            dir: "api/",
            except: None,
            forbidden: &["sqlx", "crate::store"],
            why: "api/ goes through a service, never the store",
        },
        Rule {
            dir: "web/",
            except: None,
            forbidden: &["sqlx", "crate::store"],
            why: "web/ goes through a service, never the store",
        },
        Rule { dir: "", except: Some("store/"), forbidden: &SQL, why: "only store/ holds SQL" },
    ]
}

/// Known breaks of the rules, each with the step of issue 12 that removes it. A break not
/// listed fails the test; an entry that no longer matches anything fails it too, so the
/// list only shrinks.
/// (The benchmark, which measures the database itself with its own SQL, is its own
/// workspace crate in `bench/`, outside the service's layers.)
const KNOWN: &[(&str, &str)] = &[];

/// A path the code names, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    path: String,
    line: usize,
}

/// Source text with comments and string/char literals blanked (newlines kept, so line
/// numbers hold).
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !(i > 0 && ident_char(b[i - 1]) && !(b[i - 1] == 'b' && (i < 2 || !ident_char(b[i - 2]))))
        {
            // raw string r"..." / r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match b.get(j) {
                    None => break,
                    Some('"') if (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    _ => j += 1,
                }
            }
            for &ch in &b[i..j.min(b.len())] {
                blank(&mut out, ch);
            }
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            for &ch in &b[i..(j + 1).min(b.len())] {
                blank(&mut out, ch);
            }
            i = j + 1;
        } else if c == '\'' {
            // a char literal ('a', '\n', '"') or a lifetime ('a)
            let end = if next == Some('\\') {
                (i + 2..b.len()).find(|&k| b[k] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    for &ch in &b[i..=e] {
                        blank(&mut out, ch);
                    }
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path the code names: `a::b::c`, and `a::{b, c::d}` expanded to `a::b`, `a::c::d`.
fn paths(src: &str) -> Vec<Named> {
    let s: Vec<char> = strip(src).chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < s.len() {
        if s[i] == '\n' {
            line += 1;
            i += 1;
        } else if ident_char(s[i]) && (i == 0 || !ident_char(s[i - 1])) {
            i = path_at(&s, i, &mut line, String::new(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Reads a path starting at `i` under `prefix`; pushes what it names; returns the index after it.
fn path_at(s: &[char], mut i: usize, line: &mut usize, prefix: String, out: &mut Vec<Named>) -> usize {
    let start_line = *line;
    let mut path = prefix;
    loop {
        let st = i;
        while i < s.len() && ident_char(s[i]) {
            i += 1;
        }
        if st == i {
            break;
        }
        if !path.is_empty() && !path.ends_with("::") {
            path.push_str("::");
        }
        path.extend(&s[st..i]);
        let mut j = i;
        while j < s.len() && s[j].is_whitespace() {
            j += 1;
        }
        if s.get(j) == Some(&':') && s.get(j + 1) == Some(&':') {
            *line += s[i..j].iter().filter(|&&c| c == '\n').count();
            j += 2;
            while j < s.len() && s[j].is_whitespace() {
                if s[j] == '\n' {
                    *line += 1;
                }
                j += 1;
            }
            if s.get(j) == Some(&'{') {
                // a group: each member under this prefix
                j += 1;
                let group = format!("{path}::");
                loop {
                    while j < s.len() && (s[j].is_whitespace() || s[j] == ',') {
                        if s[j] == '\n' {
                            *line += 1;
                        }
                        j += 1;
                    }
                    match s.get(j) {
                        None => return j,
                        Some('}') => return j + 1,
                        Some(c) if ident_char(*c) => j = path_at(s, j, line, group.clone(), out),
                        Some(_) => j += 1, // `*`, `as`, `self` handled as words; anything else skipped
                    }
                }
            }
            i = j;
            continue;
        }
        break;
    }
    if path.contains("::") {
        out.push(Named { path, line: start_line });
    }
    i
}

/// Whether `path` is `prefix` or lies under it (segment-wise).
fn under(path: &str, prefix: &str) -> bool {
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with("::"))
}

struct Break {
    file: String,
    line: usize,
    path: String,
    forbidden: &'static str,
    why: &'static str,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "src/{}:{}: `{}` breaks \"{}\" ({})", self.file, self.line, self.path, self.forbidden, self.why)
    }
}

fn check(file: &str, src: &str, rules: &[Rule]) -> Vec<Break> {
    let mut found = Vec::new();
    for named in paths(src) {
        for rule in rules.iter().filter(|r| file.starts_with(r.dir) && !r.except.is_some_and(|e| file.starts_with(e))) {
            for &forbidden in rule.forbidden {
                if under(&named.path, forbidden)
                    && !found.iter().any(|b: &Break| b.line == named.line && b.forbidden == forbidden)
                {
                    found.push(Break {
                        file: file.to_owned(),
                        line: named.line,
                        path: named.path.clone(),
                        forbidden,
                        why: rule.why,
                    });
                }
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read src").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every place an `api/` or `web/` file calls a store method itself
/// (`state.store.payment(..)`): a handler goes through a service, which it may hand the
/// store to (`svc::f(&state.store)`).
fn store_calls(file: &str, src: &str) -> Vec<Break> {
    let Some(layer) = ["api/", "web/"].into_iter().find(|l| file.starts_with(l)) else {
        return Vec::new();
    };
    let why = if layer == "api/" {
        "api/ goes through a service, never the store"
    } else {
        "web/ goes through a service, never the store"
    };
    // The code without whitespace, each character with its line: a call that rustfmt split
    // over lines (`state\n.store\n.payment(..)`) is found too.
    let mut chars = Vec::new();
    let mut line = 1;
    for c in strip(src).chars() {
        if c == '\n' {
            line += 1;
        } else if !c.is_whitespace() {
            chars.push((c, line));
        }
    }
    let squeezed: String = chars.iter().map(|&(c, _)| c).collect();
    let mut found = Vec::new();
    for (at, _) in squeezed.match_indices(".store.") {
        let rest = &squeezed[at + ".store.".len()..];
        let method: String = rest.chars().take_while(|&c| ident_char(c)).collect();
        if !method.is_empty() && rest[method.len()..].starts_with('(') {
            found.push(Break {
                file: file.to_owned(),
                line: chars[squeezed[..at].chars().count()].1,
                path: format!("store.{method}(..)"),
                forbidden: "store calls",
                why,
            });
        }
    }
    found
}

#[test]
fn every_import_keeps_to_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "the source tree was not found at {}", src.display());
    let rules = rules();
    let mut breaks = Vec::new();
    let mut used = vec![false; KNOWN.len()];
    for path in &files {
        let rel = path.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(path).expect("read a source file");
        for b in check(&rel, &text, &rules).into_iter().chain(store_calls(&rel, &text)) {
            match KNOWN.iter().position(|&(f, p)| f == b.file && p == b.forbidden) {
                Some(k) => used[k] = true,
                None => breaks.push(b.to_string()),
            }
        }
    }
    let stale: Vec<String> = KNOWN
        .iter()
        .zip(&used)
        .filter(|(_, &u)| !u)
        .map(|((f, p), _)| format!("src/{f}: \"{p}\" no longer occurs; remove it from KNOWN"))
        .collect();
    assert!(breaks.is_empty(), "imports that break the layers:\n{}", breaks.join("\n"));
    assert!(stale.is_empty(), "known exceptions that are gone:\n{}", stale.join("\n"));
}

#[test]
fn the_checker_sees_grouped_inline_and_multiline_imports_but_not_comments_or_strings() {
    let src = r#"//! a file
use crate::{domain::money, store::{Store, Tx}};
use axum::http::StatusCode;
// use crate::api::error::ApiError;
const S: &str = "crate::web::x and sqlx::query";
fn f() -> Result<(), crate::service::Error> {
    let _ = feegate_vietqr::content::find_reference("x");
    let _ = '"';
    let _ = sqlx
        ::query("SELECT 1");
    Ok(())
}
"#;
    let rules = rules();
    let found: Vec<(usize, &str)> = check("domain/x.rs", src, &rules).iter().map(|b| (b.line, b.forbidden)).collect();
    assert_eq!(
        found,
        vec![
            (2, "crate::store"),
            (3, "axum"),
            (6, "crate::service"),
            (7, "feegate_vietqr"),
            (9, "sqlx"),
            (9, "sqlx::query"),
        ]
    );
    assert!(check("store/x.rs", "fn f() { sqlx::query(\"SELECT 1\"); }", &rules).is_empty());
    assert!(check("service/x.rs", "use crate::store::Store;", &rules).is_empty());
    let calls = store_calls(
        "api/x.rs",
        "let a = svc::f(&state.store).await?;\nlet b = state\n    .store\n    .payment(&id).await?;",
    );
    assert_eq!(calls.iter().map(|b| b.line).collect::<Vec<_>>(), [3]);
    assert!(store_calls("service/x.rs", "state.store.payment(&id)").is_empty());
    let api = check("api/x.rs", "use crate::store::now_ms;\nuse crate::service::payments;", &rules);
    assert_eq!(api.len(), 1);
    assert_eq!(api[0].to_string().split(':').take(2).collect::<Vec<_>>(), ["src/api/x.rs", "1"]);
}

#[test]
fn a_page_that_reads_the_store_breaks_the_layers() {
    let rules = rules();
    let web = check(
        "web/x.rs",
        "use crate::store::payments::PaymentRow;
use crate::service::checkout;",
        &rules,
    );
    assert_eq!(web.iter().map(|b| (b.line, b.forbidden)).collect::<Vec<_>>(), [(1, "crate::store")]);
    assert!(web[0].to_string().contains("web/ goes through a service"), "{}", web[0]);
    let inline = check("web/x.rs", "fn f() -> i64 { crate::store::now_ms() }", &rules);
    assert_eq!(inline.len(), 1);
    let calls = store_calls(
        "web/x.rs",
        "let c = svc::load(&state, &id).await;
let p = state.store.payment(&id).await;",
    );
    assert_eq!(
        calls.iter().map(|b| (b.line, b.why)).collect::<Vec<_>>(),
        [(2, "web/ goes through a service, never the store")]
    );
}

/// The SQL verbs of the statements run by `on_pool!` in `src`: the first word of the first
/// string literal inside each `on_pool!(` before it runs the query (SQL built elsewhere and
/// passed in as a variable is not seen).
fn pool_statement_verbs(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (at, _) in src.match_indices("on_pool!(") {
        let rest = &src[at..];
        let end = [".fetch", ".execute"].iter().filter_map(|m| rest.find(m)).min().unwrap_or(rest.len());
        let Some(open) = rest[..end].find('"') else { continue };
        let word: String =
            rest[open + 1..].trim_start().chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>();
        let line = src[..at].matches('\n').count() + 1;
        out.push((line, word.to_ascii_uppercase()));
    }
    out
}

/// On SQLite the pool's connections are `query_only`: every write goes through the one
/// writer (`store::begin`), or it would fail at run time, or wait on the file lock behind a
/// group commit. So no `on_pool!` runs a write.
#[test]
fn the_store_writes_only_in_transactions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let mut writes = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read a store file");
        let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        for (line, verb) in pool_statement_verbs(&code) {
            if ["INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER"].contains(&verb.as_str()) {
                writes.push(format!("{}: on_pool! near line {line} runs {verb}", path.display()));
            }
        }
    }
    assert!(writes.is_empty(), "writes outside a transaction:\n{}", writes.join("\n"));
}

#[test]
fn the_write_check_sees_a_pool_update() {
    let src = "fn f() { on_pool!(self, |db| sqlx::query(\n \"UPDATE t SET a = 1\").execute(db)) }\n\
               fn g() { on_pool!(self, |db| sqlx::query_as(&format!(\"SELECT {COLS} FROM t\"))) }";
    assert_eq!(pool_statement_verbs(src), [(1, "UPDATE".to_owned()), (3, "SELECT".to_owned())]);
}
