//! Line-format splits of an HDFS file read every line exactly once, whatever block or
//! split boundary the line meets: a split skips its first line and finishes the line that
//! holds its end byte (Hadoop's rule), reading each file's block list once.

use super::*;

const BLOCK: usize = 1 << 20;

/// About 3.6 MiB of lines in 1 MiB blocks: empty lines, `\r\n` ends, a line starting
/// exactly at the first block boundary, a newline exactly at the second, a line longer
/// than a block across the third, and a last line with no newline.
fn awkward_text() -> Vec<u8> {
    let mut text = Vec::new();
    let mut n = 0usize;
    let mut short_lines_until = |text: &mut Vec<u8>, limit: usize| {
        while text.len() + 400 < limit {
            let len = n % 300;
            let end: &[u8] = if n.is_multiple_of(7) { b"\r\n" } else { b"\n" };
            text.extend(
                format!("{n:06}")
                    .bytes()
                    .chain((0..len).map(|i| b'a' + (i % 26) as u8)),
            );
            text.extend_from_slice(end);
            n += 1;
        }
    };
    // The next line starts at BLOCK exactly.
    short_lines_until(&mut text, BLOCK);
    text.resize(BLOCK - 1, b'x');
    text.push(b'\n');
    // A newline at 2 * BLOCK exactly: the byte a split ends before is a line's end.
    short_lines_until(&mut text, 2 * BLOCK);
    text.resize(2 * BLOCK, b'y');
    text.push(b'\n');
    short_lines_until(&mut text, 3 * BLOCK - BLOCK / 2);
    text.extend(std::iter::repeat_n(b'z', BLOCK + BLOCK / 5));
    text.push(b'\n');
    short_lines_until(&mut text, 3 * BLOCK + BLOCK / 2);
    text.extend_from_slice(b"\n\nthe last line has no newline");
    text
}

fn lines_of(text: &[u8]) -> Vec<String> {
    let text = String::from_utf8(text.to_vec()).unwrap();
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect();
    lines.sort();
    lines
}

#[test]
fn line_splits_of_an_hdfs_file_read_every_line_once_across_blocks() {
    let data = awkward_text();
    assert_eq!(
        data[BLOCK - 1],
        b'\n',
        "a line starts at the first boundary"
    );
    assert_eq!(data[2 * BLOCK], b'\n', "a newline at the second boundary");
    let path = "/it/splits/awkward.txt";
    runtime().block_on(async {
        let options = hdfs_native::WriteOptions {
            block_size: Some(BLOCK as u64),
            overwrite: true,
            ..Default::default()
        };
        let mut w = hdfs().create(path, options).await.unwrap();
        w.write(data.clone().into()).await.unwrap();
        w.close().await.unwrap();
    });
    let expected = lines_of(&data);
    let local = tempfile::tempdir().unwrap();
    for (query, name) in [
        ("SELECT line FROM input", "lines"),
        ("SELECT count(*) AS n FROM input", "count"),
    ] {
        let out = local.path().join(name);
        let spec = local.path().join(format!("{name}.yaml"));
        std::fs::write(
            &spec,
            format!(
                "name: splits-{name}\nworkers: {{ instances: 2 }}\ninput: {{ path: \"hdfs://{path}\", format: text, split_size: 1 MiB }}\nstages:\n  - sql: \"{query}\"\noutput: {{ path: \"{}\", format: jsonl }}\n",
                out.display()
            ),
        )
        .unwrap();
        let o = spindle(&["run", &spec.display().to_string(), "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let summary = summary.get("summary").unwrap_or(&summary);
        assert_eq!(summary["bytes_read"], data.len() as u64, "{summary}");
        let rows = read_jsonl_rows(&out);
        if name == "lines" {
            let mut got: Vec<String> = rows
                .iter()
                .map(|r| r["line"].as_str().unwrap().to_string())
                .collect();
            got.sort();
            assert_eq!(got.len(), expected.len());
            assert!(got == expected, "the lines read differ from the file's");
        } else {
            let n: u64 = rows.iter().map(|r| r["n"].as_u64().unwrap()).sum();
            assert_eq!(n, expected.len() as u64);
        }
    }
}
