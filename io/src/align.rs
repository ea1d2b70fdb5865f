//! Record boundaries for line-based formats, Hadoop's rule (`LineRecordReader`): a split
//! `[start, end)` other than a file's first always skips its first line, which the split
//! before it read, and owns every line that starts after `start` and at or before `end`,
//! reading past `end` to finish the last one. So a split needs no byte before its start
//! (that would be one more read, often of another block), only a look past its end.

use memchr::memchr;

/// Where the records of a split lie within a buffer that begins at the split's `start`.
/// Returns `None` when more bytes are needed to find the end of the last record and
/// `at_eof` is false.
pub fn records_in(
    buf: &[u8],
    start: u64,
    end: u64,
    at_eof: bool,
) -> Option<std::ops::Range<usize>> {
    let first = if start == 0 {
        0
    } else {
        match memchr(b'\n', buf) {
            Some(p) => p + 1,
            None if at_eof => return Some(buf.len()..buf.len()),
            None => return None,
        }
    };
    let span = (end - start) as usize;
    if first > span {
        return Some(first..first);
    }
    // The last record is the one holding byte `end` (it starts at or before `end`); it
    // ends at the next newline at or after `end`.
    match buf.get(span..).and_then(|tail| memchr(b'\n', tail)) {
        Some(p) => Some(first..span + p + 1),
        None if at_eof => Some(first..buf.len()),
        None => None,
    }
}

/// The file offset at which 1-based line `line` of `data` begins (for error messages).
pub fn offset_of_line(data: &[u8], line: usize) -> usize {
    if line <= 1 {
        return 0;
    }
    let mut seen = 1;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' {
            seen += 1;
            if seen == line {
                return i + 1;
            }
        }
    }
    data.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `text` into `size`-byte splits and returns each split's records.
    fn split_all(text: &str, size: u64) -> Vec<String> {
        let bytes = text.as_bytes();
        let len = bytes.len() as u64;
        let mut out = vec![];
        let mut start = 0;
        while start < len {
            let end = (start + size).min(len);
            let buf = &bytes[start as usize..];
            let r = records_in(buf, start, end, true).unwrap();
            out.push(String::from_utf8(buf[r].to_vec()).unwrap());
            start = end;
        }
        out
    }

    #[test]
    fn every_record_lands_in_exactly_one_split() {
        let text = "a,1\nbb,22\nccc,333\ndddd,4444\ne,5";
        for size in 1..=text.len() as u64 + 1 {
            let joined: String = split_all(text, size).concat();
            assert_eq!(joined, text, "split size {size}");
        }
    }

    #[test]
    fn a_record_starting_exactly_at_a_split_end_belongs_to_the_split_before() {
        let text = "ab\ncd\nef\n";
        // [0, 3) ends right before "cd": it owns "ab\n" and "cd\n", as Hadoop's reader does
        assert_eq!(split_all(text, 3), vec!["ab\ncd\n", "ef\n", ""]);
    }

    #[test]
    fn needs_more_bytes_when_last_record_is_cut() {
        let buf = b"xx\nyyyy";
        assert_eq!(records_in(buf, 0, 4, false), None);
        assert_eq!(records_in(buf, 0, 4, true), Some(0..7));
    }

    #[test]
    fn empty_lines_and_a_file_without_a_final_newline_lose_nothing() {
        let text = "\n\na\n\nbb\n\n\nccc";
        for size in 1..=text.len() as u64 + 1 {
            let parts = split_all(text, size);
            assert_eq!(parts.concat(), text, "split size {size}");
            let lines: usize = parts.iter().map(|p| p.split_inclusive('\n').count()).sum();
            assert_eq!(
                lines,
                text.split_inclusive('\n').count(),
                "split size {size}"
            );
        }
    }

    #[test]
    fn a_split_inside_one_long_record_is_empty() {
        let text = "short\nthis-is-a-very-long-record\nz\n";
        let parts = split_all(text, 4);
        assert_eq!(parts.concat(), text);
        assert!(parts.iter().filter(|p| p.is_empty()).count() >= 4);
    }

    #[test]
    fn line_offsets() {
        let d = b"h\nab\ncd\n";
        assert_eq!(offset_of_line(d, 1), 0);
        assert_eq!(offset_of_line(d, 2), 2);
        assert_eq!(offset_of_line(d, 3), 5);
    }
}
