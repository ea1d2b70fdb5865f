//! Record boundaries for line-based formats, Hadoop's rule (`LineRecordReader`): a split
//! `[start, end)` other than a file's first always skips its first line, which the split
//! before it read, and owns every line that starts after `start` and at or before `end`,
//! reading past `end` to finish the last one. So a split needs no byte before its start
//! (that would be one more read, often of another block), only a look past its end.

use crate::bind::BOM;
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

/// How many lines a split owns under the rule above, counted from its own bytes
/// `[start, end)` alone, fed in order as they arrive: a line starts after each newline,
/// and the owned ones start in `[first, end]`, so a count (`count(*)` of text, where no
/// column is read) needs neither the look past the end nor the bytes gathered in one
/// buffer. Agrees with the lines of [`records_in`]'s records, a leading byte order mark
/// not counting as a line.
pub struct LineCount {
    start: u64,
    file_size: u64,
    /// File offset of the next byte fed.
    at: u64,
    newlines: u64,
}

impl LineCount {
    /// `None` for the first split of a file no longer than a byte order mark, which may
    /// hold only the mark and no line: its records tell.
    pub fn new(start: u64, file_size: u64) -> Option<LineCount> {
        (start > 0 || file_size > BOM.len() as u64).then_some(LineCount {
            start,
            file_size,
            at: start,
            newlines: 0,
        })
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        let mut n = bytecount::count(chunk, b'\n') as u64;
        self.at += chunk.len() as u64;
        // A newline as the file's last byte ends a line and starts none.
        if self.at == self.file_size && chunk.last() == Some(&b'\n') {
            n -= 1;
        }
        self.newlines += n;
    }

    pub fn lines(&self) -> u64 {
        self.newlines + u64::from(self.start == 0)
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

    /// The count from a split's own bytes, fed in chunks of every size, equals the lines
    /// of its records, for every split size.
    #[test]
    fn lines_counted_from_a_splits_own_bytes_match_its_records() {
        let texts: [&[u8]; 9] = [
            b"a,1\nbb,22\nccc,333\ndddd,4444\ne,5",
            b"\n\na\n\nbb\n\n\nccc",
            b"ab\ncd\nef\n",
            b"short\nthis-is-a-very-long-record\nz\n",
            b"x\r\ny\r\n\r\n",
            b"\xEF\xBB\xBF",
            b"\xEF\xBB\xBF\n",
            b"\xEF\xBB\xBFa\nb",
            b"\xEF\xBB\xBFab",
        ];
        for text in texts {
            // The first split of a file no longer than a mark is counted from its records.
            let short = text.len() <= 3;
            assert_eq!(LineCount::new(0, text.len() as u64).is_none(), short);
            let len = text.len() as u64;
            for size in 1..=len + 1 {
                for chunk in 1..=size as usize {
                    let mut start = 0;
                    while start < len {
                        let end = (start + size).min(len);
                        let r = records_in(&text[start as usize..], start, end, true).unwrap();
                        let mut records = &text[start as usize..][r];
                        if start == 0 {
                            records = records.strip_prefix(BOM).unwrap_or(records);
                        }
                        let expected = records.split_inclusive(|&b| b == b'\n').count() as u64;
                        let Some(mut count) = LineCount::new(start, len) else {
                            assert!(start == 0 && len <= 3, "counted from records");
                            start = end;
                            continue;
                        };
                        for piece in text[start as usize..end as usize].chunks(chunk) {
                            count.feed(piece);
                        }
                        assert_eq!(
                            count.lines(),
                            expected,
                            "{:?}, split [{start}, {end}), chunks of {chunk}",
                            String::from_utf8_lossy(text)
                        );
                        start = end;
                    }
                }
            }
        }
    }

    #[test]
    fn line_offsets() {
        let d = b"h\nab\ncd\n";
        assert_eq!(offset_of_line(d, 1), 0);
        assert_eq!(offset_of_line(d, 2), 2);
        assert_eq!(offset_of_line(d, 3), 5);
    }
}
