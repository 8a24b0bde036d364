//! The shared pieces of the hostile-input property tests (feature `hostile`): values that
//! break parsers, field edits for JSON objects and query-string maps, byte-level mutations,
//! and the corpus folders of past finds. What to mutate and how to sign stays with each gateway.

use proptest::prelude::*;
use proptest::test_runner::{FailurePersistence, FileFailurePersistence, PersistedSeed, RngSeed};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The runner configuration of every hostile-input property test: `cases` cases unless
/// `PROPTEST_CASES` says otherwise (so a long run needs no code change), a seed that is
/// printed with the test's output (replay a failure with `PROPTEST_RNG_SEED=<seed>`),
/// and the committed `*.proptest-regressions` file beside the test replayed first but
/// **never written**: a failing draw on a developer's machine must not leave a file in
/// the tree that makes every later run fail (or that gets committed without its fix).
/// A find that is a real regression is kept by hand, with its fix: the `cc` line printed
/// on failure goes into that file, or the input into `tests/corpus/` or a named test.
pub fn config(cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    if c.rng_seed == RngSeed::Random {
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new().build_hasher().finish();
        c.rng_seed = RngSeed::Fixed(seed);
        eprintln!("proptest: seed {seed} (replay with PROPTEST_RNG_SEED={seed})");
    }
    if c.failure_persistence.is_some() {
        c.failure_persistence =
            Some(Box::new(ReadOnlyRegressions(FileFailurePersistence::WithSource("proptest-regressions"))));
    }
    c
}

/// Replays the committed regression seeds; prints a new failure's seed instead of saving it.
#[derive(Debug, Clone, PartialEq)]
struct ReadOnlyRegressions(FileFailurePersistence);

impl FailurePersistence for ReadOnlyRegressions {
    fn load_persisted_failures2(&self, source_file: Option<&'static str>) -> Vec<PersistedSeed> {
        self.0.load_persisted_failures2(source_file)
    }

    fn save_persisted_failure2(
        &mut self,
        source_file: Option<&'static str>,
        seed: PersistedSeed,
        shrunken_value: &dyn std::fmt::Debug,
    ) {
        let shrunk = format!("{shrunken_value:?}").replace(['\n', '\r'], " ");
        eprintln!(
            "proptest: not saved. Once the cause is fixed (code or expectation), keep the case by adding\n  \
             {seed} # shrinks to {shrunk}\nto the .proptest-regressions file beside {}",
            source_file.unwrap_or("the test")
        );
    }

    fn box_clone(&self) -> Box<dyn FailurePersistence> {
        Box::new(self.clone())
    }

    fn eq(&self, other: &dyn FailurePersistence) -> bool {
        other.as_any().downcast_ref::<Self>().is_some_and(|o| o == self)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn corpus_dir(target: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus").join(target)
}

/// The files of `tests/corpus/{target}` at the workspace root, sorted by name; none is fine.
pub fn corpus_files(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// The files of `tests/corpus/{target}` at the workspace root, sorted by name; there must be some.
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let out = corpus_files(target);
    assert!(!out.is_empty(), "{} is empty", corpus_dir(target).display());
    out
}

/// Values that break parsers: wrong types, huge and negative numbers, fractions, exponents,
/// non-ASCII digits, control characters, deep nesting, long strings.
pub fn hostile_value() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1.0e20f64..1.0e20).prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "",
            "-135000",
            "135000.5",
            "1e5",
            "１３５０００",
            "99999999999999999999999",
            "0x1F",
            " 135000 ",
            "NaN",
            "\u{0}",
            "FG0123456789\u{0}",
            "Lệ phí cấp đổi",
            "succeeded ",
            "SUCCEEDED",
            "failed",
            "pending",
            "2026-13-45T99:00:00Z",
            "FG0123456788",
        ])
        .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        (1usize..3000).prop_map(|n| Value::from("9".repeat(n))),
        Just(json!([1, "2", null])),
        Just(json!({"a": {"b": [{"c": null}]}})),
    ]
}

/// One change to a message's fields (indices are taken modulo the field count).
#[derive(Debug, Clone)]
pub enum Edit<V> {
    Drop(usize),
    Set(usize, V),
    Add(String, V),
    /// The key given a second time: first in JSON text, appended after signing in a query.
    Dup(usize, V),
    /// One character of a string value replaced.
    Char(usize, usize, char),
}

/// Edits whose new keys match the pattern `new_key` and whose values come from `value`.
pub fn edit_with<S>(new_key: &'static str, value: S) -> impl Strategy<Value = Edit<S::Value>>
where
    S: Strategy + Clone,
    S::Value: Clone,
{
    prop_oneof![
        any::<usize>().prop_map(Edit::Drop),
        (any::<usize>(), value.clone()).prop_map(|(i, v)| Edit::Set(i, v)),
        (new_key, value.clone()).prop_map(|(k, v)| Edit::Add(k, v)),
        (any::<usize>(), value).prop_map(|(i, v)| Edit::Dup(i, v)),
        (any::<usize>(), any::<usize>(), any::<char>()).prop_map(|(i, at, c)| Edit::Char(i, at, c)),
    ]
}

/// Edits to a JSON object: new keys `[a-z_]{1,12}`, values from [`hostile_value`].
pub fn edit() -> impl Strategy<Value = Edit<Value>> {
    edit_with("[a-z_]{1,12}", hostile_value())
}

/// The `i`-th key of `m`, modulo its length, or `None` if it is empty.
pub fn nth_key(m: &Map<String, Value>, i: usize) -> Option<String> {
    (!m.is_empty()).then(|| m.keys().nth(i % m.len()).cloned()).flatten()
}

/// A message's fields as [`apply_edits`] changes them.
pub trait Fields {
    type Value: Clone;
    /// The `i`-th key, modulo the field count, or `None` if there are no fields.
    fn key_at(&self, i: usize) -> Option<String>;
    fn remove_field(&mut self, key: &str);
    fn set_field(&mut self, key: String, value: Self::Value);
    /// The field's value when it is text.
    fn text_mut(&mut self, key: &str) -> Option<&mut String>;
}

impl Fields for Map<String, Value> {
    type Value = Value;
    fn key_at(&self, i: usize) -> Option<String> {
        nth_key(self, i)
    }
    fn remove_field(&mut self, key: &str) {
        self.remove(key);
    }
    fn set_field(&mut self, key: String, value: Value) {
        self.insert(key, value);
    }
    fn text_mut(&mut self, key: &str) -> Option<&mut String> {
        match self.get_mut(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }
}

impl Fields for BTreeMap<String, String> {
    type Value = String;
    fn key_at(&self, i: usize) -> Option<String> {
        (!self.is_empty()).then(|| self.keys().nth(i % self.len()).cloned()).flatten()
    }
    fn remove_field(&mut self, key: &str) {
        self.remove(key);
    }
    fn set_field(&mut self, key: String, value: String) {
        self.insert(key, value);
    }
    fn text_mut(&mut self, key: &str) -> Option<&mut String> {
        self.get_mut(key)
    }
}

/// Applies `edits` to `fields` in order; returns the fields given a second time.
pub fn apply_edits<F: Fields>(fields: &mut F, edits: &[Edit<F::Value>]) -> Vec<(String, F::Value)> {
    let mut dups = Vec::new();
    for e in edits {
        match e {
            Edit::Drop(i) => {
                if let Some(k) = fields.key_at(*i) {
                    fields.remove_field(&k);
                }
            }
            Edit::Set(i, v) => {
                if let Some(k) = fields.key_at(*i) {
                    fields.set_field(k, v.clone());
                }
            }
            Edit::Add(k, v) => fields.set_field(k.clone(), v.clone()),
            Edit::Dup(i, v) => dups.extend(fields.key_at(*i).map(|k| (k, v.clone()))),
            Edit::Char(i, at, c) => {
                if let Some(s) = fields.key_at(*i).and_then(|k| fields.text_mut(&k)) {
                    let mut chars: Vec<char> = s.chars().collect();
                    if !chars.is_empty() {
                        let n = chars.len();
                        chars[at % n] = *c;
                        *s = chars.into_iter().collect();
                    }
                }
            }
        }
    }
    dups
}

/// Applies `edits` to `fields` and writes the JSON text (duplicate keys spliced in as text).
pub fn render(fields: &Map<String, Value>, edits: &[Edit<Value>]) -> Vec<u8> {
    let mut m = fields.clone();
    let dups = apply_edits(&mut m, edits);
    let extra: String = dups.iter().map(|(k, v)| format!("{}:{v},", Value::from(k.as_str()))).collect();
    with_duplicates(m, &extra)
}

/// `m` as JSON text with `extra` (`"key":value,` pairs) spliced in before its own keys.
pub fn with_duplicates(m: Map<String, Value>, extra: &str) -> Vec<u8> {
    let text = Value::Object(m).to_string();
    if text == "{}" {
        format!("{{{}}}", extra.trim_end_matches(',')).into_bytes()
    } else {
        format!("{{{extra}{}", &text[1..]).into_bytes()
    }
}

/// One byte-level change (positions taken modulo the length).
#[derive(Debug, Clone)]
pub enum ByteOp {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Repeat(usize, usize),
}

/// Any [`ByteOp`], a repeat copying up to 63 bytes.
pub fn byte_op() -> impl Strategy<Value = ByteOp> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteOp::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteOp::Insert(i, b)),
        any::<usize>().prop_map(ByteOp::Delete),
        any::<usize>().prop_map(ByteOp::Truncate),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| ByteOp::Repeat(i, n)),
    ]
}

/// `bytes` after `ops`, in order.
pub fn mutate(bytes: &[u8], ops: &[ByteOp]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for op in ops {
        let n = b.len().max(1);
        match *op {
            ByteOp::Set(i, x) if !b.is_empty() => b[i % n] = x,
            ByteOp::Insert(i, x) => b.insert(i % (b.len() + 1), x),
            ByteOp::Delete(i) if !b.is_empty() => {
                b.remove(i % n);
            }
            ByteOp::Truncate(i) => b.truncate(i % n),
            ByteOp::Repeat(i, len) if !b.is_empty() => {
                let start = i % n;
                let piece: Vec<u8> = b[start..(start + len).min(b.len())].to_vec();
                b.splice(start..start, piece);
            }
            _ => {}
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_case_is_printed_not_written_and_committed_regressions_are_replayed() {
        let dir = std::env::temp_dir().join(format!("feegate-testkit-regressions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source: &'static str = Box::leak(dir.join("hostile.rs").to_string_lossy().into_owned().into_boxed_str());
        let file = dir.join("hostile.proptest-regressions");
        let _ = std::fs::remove_file(&file);
        let mut p = ReadOnlyRegressions(FileFailurePersistence::WithSource("proptest-regressions"));
        let seed: PersistedSeed =
            "cc f1fde56da770d3b6801c1ce2883b01abfb8b434e67725890c7affad77010f662".parse().unwrap();
        p.save_persisted_failure2(Some(source), seed.clone(), &"the shrunk input");
        assert!(!file.exists(), "a failing draw must not leave a file in the tree");
        std::fs::write(&file, format!("{seed} # committed with its fix\n")).unwrap();
        assert_eq!(p.load_persisted_failures2(Some(source)), vec![seed]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
