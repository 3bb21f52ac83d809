//! Fuzzing the shell reader (`netraven_worker::ssh::terminal`): whatever bytes a device
//! sends, in whatever chunks they arrive, the terminal never panics, gives the same text
//! as if everything had arrived at once, and the prompt/pager matching and echo stripping
//! built on it never panic either. A panic here would take down a worker task mid-device.
//!
//! Failures found are kept as seeds in `worker/proptest-regressions/fuzz_terminal.txt`
//! (committed) and replayed first on every run.

use netraven_worker::ssh::terminal::{match_at_end, strip_echo, Terminal};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use regex::Regex;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2_000,
        // The regression corpus, committed: seeds of past failures, replayed first.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/fuzz_terminal.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Bytes a shell session is made of, weighted towards what the terminal interprets:
/// escapes, CSI parameters and finals, CR/LF, backspace, BEL, pager and prompt text, and
/// pieces of multi-byte UTF-8.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        4 => any::<u8>().prop_map(|b| vec![b]),
        2 => prop::sample::select(vec![
            b"\x1b".to_vec(), b"\x1b[".to_vec(), b"\x1b[K".to_vec(), b"\x1b[2K".to_vec(),
            b"\x1b[10D".to_vec(), b"\x1b[5C".to_vec(), b"\x1b[1G".to_vec(), b"\x1b[999999999999C".to_vec(),
            b"\x1b]0;title\x07".to_vec(), b"\x1bP".to_vec(), b"\x1b\\".to_vec(), b"\x1b(B".to_vec(),
            b"\r".to_vec(), b"\n".to_vec(), b"\r\n".to_vec(), b"\n\r".to_vec(), b"\x08".to_vec(),
            b"\x08 \x08".to_vec(), b"\x07".to_vec(), b"\x00".to_vec(),
            b" --More-- ".to_vec(), b"router#".to_vec(), b"router>".to_vec(), b"Password:".to_vec(),
            "é".as_bytes().to_vec(), "€".as_bytes()[..2].to_vec(), "😀".as_bytes()[1..].to_vec(), vec![0xff, 0xfe],
        ]),
        2 => "[a-z0-9 #>:-]{1,12}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(token, 0..200).prop_map(|t| t.concat())
}

/// Split points in `0..=len`, sorted.
fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for c in at {
        out.push(bytes[start..c].to_vec());
        start = c;
    }
    out.push(bytes[start..].to_vec());
    out
}

fn patterns() -> Vec<Regex> {
    [
        r"[\w.-]+[>#]\s*$",
        r"(?i)--\s*more\s*--",
        r"(?i)password:\s*$",
        r"[\w.-]+(\([\w-]+\))?#",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("pattern"))
    .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_in_any_chunks_never_panic_and_read_the_same(
        bytes in stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut whole = Terminal::new();
        whole.feed(&bytes);
        let mut pieces = Terminal::new();
        for c in chunked(&bytes, &cuts) {
            pieces.feed(&c);
            let _ = pieces.current_line();
        }
        prop_assert_eq!(whole.text(), pieces.text());
        prop_assert_eq!(whole.current_line(), pieces.current_line());
    }

    #[test]
    fn raw_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut t = Terminal::new();
        t.feed(&bytes);
        let _ = t.text();
        let _ = t.is_empty();
    }

    #[test]
    fn prompt_and_pager_handling_never_panics(
        chunks in prop::collection::vec(stream(), 1..6),
        cut_at in any::<usize>(),
        take_at in any::<usize>(),
        typed in ".{0,20}",
    ) {
        let res = patterns();
        let mut t = Terminal::new();
        for c in &chunks {
            t.feed(c);
            let line = t.current_line().to_string();
            for re in &res {
                if let Some(m) = match_at_end(&line, re) {
                    prop_assert!(m.start <= m.end && m.end <= line.len());
                    t.cut_current_line(m.start);
                }
            }
            // Offsets from nowhere (past the end, inside a character) are clamped.
            t.cut_current_line(cut_at % (t.current_line().len() + 2));
            let out = t.take_until(take_at % (t.current_line().len() + 2));
            let _ = strip_echo(&out, &typed);
        }
    }
}

/// Inputs that once needed care, kept as a fixed corpus next to the generated cases.
#[test]
fn the_corpus_reads_without_panic() {
    let corpus: [&[u8]; 8] = [
        b"\x1b[999999999999999999999C\x1b[99999999999D x",
        b"\x1b]",
        b"\x1bP\x1b\x1b\x1b",
        "\u{1F600}".as_bytes().split_at(2).0,
        b"\r\r\r\n\n\r\x08\x08\x08\x08",
        b" --More-- \x08\x08\x08\x08\x08\x08\x08\x08\x08\x08          \x08\x08\x08\x08\x08\x08\x08\x08\x08\x08",
        b"\xff\xfe\xfd router#",
        b"\x1b[;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;K",
    ];
    for bytes in corpus {
        let mut whole = Terminal::new();
        whole.feed(bytes);
        let mut bytewise = Terminal::new();
        for b in bytes {
            bytewise.feed(std::slice::from_ref(b));
        }
        assert_eq!(whole.text(), bytewise.text(), "{bytes:?}");
        let at = whole.current_line().len();
        let _ = whole.take_until(at + 1);
    }
}
