//! Test helpers: fixtures from `tests/fixtures/statements/`, and a no-panic harness that feeds a
//! parser every truncation and many random byte mutations of a file.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Reads a fixture file.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/statements/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Bytes a mutation likes to insert: the structure of the three formats.
const INTERESTING: &[u8] = b":<>/-,.;\"\r\n{}CDR0123456789 &#x\xC3\xA1\xFF\x00";

/// Calls `parse` on every prefix of `bytes` and on `rounds` seeded random mutations of it, and
/// fails with the offending input when a call panics.
pub(crate) fn never_panics(bytes: &[u8], rounds: usize, parse: impl Fn(&[u8])) {
    let run = |input: &[u8], what: &str| {
        if catch_unwind(AssertUnwindSafe(|| parse(input))).is_err() {
            panic!("parser panicked on {what}: {:?}", String::from_utf8_lossy(input));
        }
    };
    for n in 0..=bytes.len() {
        run(&bytes[..n], &format!("the first {n} bytes"));
    }
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15 ^ bytes.len() as u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..rounds {
        let mut input = bytes.to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % input.len().max(1);
            let byte = if next() % 2 == 0 { next() as u8 } else { INTERESTING[(next() as usize) % INTERESTING.len()] };
            match next() % 4 {
                0 if !input.is_empty() => {
                    input.remove(at);
                }
                1 => input.insert(at.min(input.len()), byte),
                _ if !input.is_empty() => input[at] = byte,
                _ => input.push(byte),
            }
        }
        run(&input, &format!("mutation {round}"));
    }
}
