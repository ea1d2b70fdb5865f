//! Record boundaries for line-based formats, Hadoop's rule: a record belongs to the split
//! in which it starts. A split `[start, end)` therefore skips the partial record at its
//! beginning (unless `start == 0`) and reads past `end` to finish its last record.

use memchr::memchr;

/// Where the records of a split lie within a buffer that begins at file offset
/// `buf_offset` (which must be `start - 1` when `start > 0`, so that a record starting
/// exactly at `start` is recognised). Returns `None` when more bytes are needed to find
/// the end of the last record and `at_eof` is false.
pub fn records_in(
    buf: &[u8],
    buf_offset: u64,
    start: u64,
    end: u64,
    at_eof: bool,
) -> Option<std::ops::Range<usize>> {
    debug_assert!(start == 0 && buf_offset == 0 || buf_offset + 1 == start);
    let first = if start == 0 {
        0
    } else {
        match memchr(b'\n', buf) {
            Some(p) => p + 1,
            None if at_eof => return Some(buf.len()..buf.len()),
            None => return None,
        }
    };
    if buf_offset + first as u64 >= end {
        return Some(first..first);
    }
    // The last record is the one holding byte end - 1; it ends at the next newline.
    let last_byte = (end - 1 - buf_offset) as usize;
    let from = last_byte.max(first);
    match buf.get(from..).and_then(|tail| memchr(b'\n', tail)) {
        Some(p) => Some(first..from + p + 1),
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
            let off = start.saturating_sub(1);
            let buf = &bytes[off as usize..];
            let r = records_in(buf, off, start, end, true).unwrap();
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
    fn record_starting_exactly_at_split_start_belongs_to_it() {
        let text = "ab\ncd\n";
        // split [3, 6) starts right after a newline: it owns "cd\n"
        assert_eq!(split_all(text, 3), vec!["ab\n", "cd\n"]);
    }

    #[test]
    fn needs_more_bytes_when_last_record_is_cut() {
        let buf = b"xx\nyyyy";
        assert_eq!(records_in(buf, 0, 0, 4, false), None);
        assert_eq!(records_in(buf, 0, 0, 4, true), Some(0..7));
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
