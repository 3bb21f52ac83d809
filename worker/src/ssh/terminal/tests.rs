//! Tests of the terminal: line ends, escapes, pagers, prompts, echo, any chunking.

use super::*;
use regex::Regex;

fn show(bytes: &[u8]) -> String {
    let mut t = Terminal::new();
    t.feed(bytes);
    t.text()
}

#[test]
fn line_ends() {
    assert_eq!(show(b"a\r\nb\n\rc\r\r\nd"), "a\nb\nc\nd");
    assert_eq!(show(b"one\r\n\r\ntwo\r\n"), "one\n\ntwo\n");
}

#[test]
fn ansi_sequences_are_removed() {
    assert_eq!(show(b"\x1b[1;32mgreen\x1b[0m text"), "green text");
    assert_eq!(show(b"\x1b]0;title\x07R1#"), "R1#");
    assert_eq!(show(b"\x1b]0;title\x1b\\R1#"), "R1#");
    assert_eq!(show(b"\x1b(Bx\x1b=y"), "xy");
    assert_eq!(show(b"\x1b[?2004hR1#"), "R1#");
}

#[test]
fn carriage_return_overwrites_and_erase_line() {
    assert_eq!(show(b"Loading...\rDone\x1b[K\r\n"), "Done\n");
    assert_eq!(show(b"abcdef\rXY\r\n"), "XYcdef\n");
    assert_eq!(show(b"abc\x1b[2K\rxyz\n"), "xyz\n");
}

#[test]
fn backspace_moves_the_cursor() {
    assert_eq!(show(b"abc\x08\x08 \x08\x08\n"), "a c\n");
    assert_eq!(show(b"abc\x08 \x08\n"), "ab\n");
    assert_eq!(show(b"\x08\x08x"), "x");
}

#[test]
fn control_bytes_dropped_and_utf8_kept() {
    assert_eq!(show(b"a\x07b\x00c\x7f"), "abc");
    assert_eq!(show("café — ok".as_bytes()), "café — ok");
    assert_eq!(show(b"a\xffb"), "a\u{fffd}b");
    assert_eq!(show(b"a\xc3"), "a");
    assert_eq!(show(b"a\xc3b"), "a\u{fffd}b");
}

#[test]
fn cisco_pager_erase_leaves_clean_lines() {
    let pager = Regex::new(r"\s*--More--\s*").expect("regex");
    let mut t = Terminal::new();
    t.feed(b"line 1\r\nline 2\r\n --More-- ");
    let m = match_at_end(t.current_line(), &pager).expect("pager at end");
    t.cut_current_line(m.start);
    t.feed(b"\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08          ");
    t.feed(b"\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08line 3\r\nR1#");
    assert_eq!(t.text(), "line 1\nline 2\nline 3\nR1#");
}

#[test]
fn junos_pager_erase_leaves_clean_lines() {
    let pager = Regex::new(r"\s*---\(more[^)]*\)---\s*").expect("regex");
    let mut t = Terminal::new();
    t.feed(b"set a\r\n---(more 42%)---");
    let m = match_at_end(t.current_line(), &pager).expect("pager at end");
    t.cut_current_line(m.start);
    t.feed(b"\r            \rset b\r\nuser@r1> ");
    assert_eq!(t.text(), "set a\nset b\nuser@r1> ");
}

#[test]
fn prompt_only_at_the_end_of_the_current_line() {
    let prompt = Regex::new(r"(?m)^[\w.\-@()/:]{1,63}[>#]\s*$").expect("regex");
    assert_eq!(match_at_end("R1#", &prompt), Some(0..3));
    assert_eq!(match_at_end("R1(config)# ", &prompt), Some(0..12));
    assert_eq!(match_at_end(" description R1#", &prompt), None);
    assert_eq!(match_at_end("R1#show run", &prompt), None);
    let pager = Regex::new(r"\s*--More--\s*").expect("regex");
    assert_eq!(match_at_end("x --More-- ", &pager), Some(1..11));
    assert_eq!(match_at_end("--More-- and more", &pager), None);

    // A config line that looks like a prompt is not on the current line once its
    // newline arrived.
    let mut t = Terminal::new();
    t.feed(b"hostname R1\r\nR1#\r\n!\r\n");
    assert_eq!(match_at_end(t.current_line(), &prompt), None);
}

#[test]
fn take_until_splits_output_and_prompt() {
    let mut t = Terminal::new();
    t.feed(b"show clock\r\n12:00\r\nR1#");
    let out = t.take_until(0);
    assert_eq!(out, "show clock\n12:00\n");
    assert!(t.is_empty());
    assert_eq!(strip_echo(&out, "show clock"), "12:00\n");
}

#[test]
fn echo_stripping() {
    assert_eq!(strip_echo("show ver\nIOS 15\n", "show ver"), "IOS 15\n");
    assert_eq!(
        strip_echo("\nR1#show ver\nIOS 15\n", "show ver"),
        "IOS 15\n"
    );
    assert_eq!(strip_echo("IOS 15\n", "show ver"), "IOS 15\n");
    assert_eq!(strip_echo("show ver", "show ver"), "");
    assert_eq!(strip_echo("x\n", ""), "x\n");
}

/// xorshift: deterministic pseudo-random inputs without a dependency.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn any_chunking_gives_the_same_text() {
    let alphabet: &[u8] = b"ab #>\r\n\x08\x1b[]0;K2DmC\x07\\\xc3\xa9\xff\t-";
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..2000 {
        let len = (rng(&mut seed) % 40) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| alphabet[(rng(&mut seed) as usize) % alphabet.len()])
            .collect();
        let whole = show(&input);
        for split in 0..=input.len() {
            let mut t = Terminal::new();
            t.feed(&input[..split]);
            t.feed(&input[split..]);
            assert_eq!(t.text(), whole, "input {input:?} split at {split}");
        }
        let one_by_one = {
            let mut t = Terminal::new();
            for b in &input {
                t.feed(std::slice::from_ref(b));
            }
            t.text()
        };
        assert_eq!(one_by_one, whole, "input {input:?} byte by byte");
    }
}

#[test]
fn cuts_and_takes_never_panic_on_odd_offsets() {
    let mut t = Terminal::new();
    t.feed("héllo".as_bytes());
    t.cut_current_line(2); // inside 'é'
    assert_eq!(t.current_line(), "h");
    t.feed("é".as_bytes());
    assert_eq!(t.take_until(99), "hé");
}

/// A shell's output is what a terminal shows, and that is always storable text: no NUL
/// (a terminal ignores it), no escape left, invalid UTF-8 shown as U+FFFD.
#[test]
fn hostile_bytes_leave_storable_text() {
    let shown = show(b"a\0b caf\xe9 \xff\x1b]0;owned\x07\x1b[2J\x1b[31mred\x1b[0m\x7f\r\n");
    assert_eq!(shown, "ab caf\u{fffd} \u{fffd}red\n");
    assert!(!shown.contains('\0') && !shown.contains('\u{1b}'));
}

/// Cursor moves cannot make the text much larger than what the device sent: `ESC [ 4096 C`
/// and one character, line after line, padded 4,095 blanks for every 9 bytes before.
#[test]
fn cursor_moves_cannot_blow_the_text_up() {
    let input = b"\x1b[4096Cx\n".repeat(256 * 1024 / 9);
    let mut t = Terminal::new();
    for chunk in input.chunks(32 * 1024) {
        t.feed(chunk);
    }
    let text = t.text();
    assert!(
        text.len() <= 2 * input.len() + super::screen::PADDING_SLACK,
        "{} bytes of text from {} bytes",
        text.len(),
        input.len()
    );
    // The first lines are padded as a terminal pads them; the slack runs out, not the lines.
    assert!(text.starts_with(&format!("{}x\n", " ".repeat(4095))));
    assert_eq!(text.lines().count(), input.len() / 9);
}

/// A line reaching the terminal's width goes on on the next line, as a terminal wraps: no
/// character is lost, and no line is longer than the width, so writing inside a line
/// costs a bounded walk whatever was sent (a 10,000-character line of `é` overwritten).
#[test]
fn lines_wrap_at_the_last_column() {
    let width = super::screen::MAX_COLUMNS;
    assert_eq!(
        show(&b"a".repeat(width + 10)),
        format!("{}\n{}", "a".repeat(width), "a".repeat(10))
    );
    let mut input = "é".repeat(10_000).into_bytes();
    input.push(b'\r');
    input.extend(b"b".repeat(10_000));
    let shown = show(&input);
    assert!(shown.lines().all(|l| l.chars().count() <= width));
    // Two full lines of `é` stay; the carriage return went back to the third, which the
    // `b`s overwrite and then carry on from.
    let count = |c: char| shown.chars().filter(|x| *x == c).count();
    assert_eq!((count('é'), count('b')), (2 * width, 10_000));
}
