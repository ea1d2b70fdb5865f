use super::aggregated::{containers, ContainerLogs};
use super::tfile::*;
use super::*;

/// Reads a whole TFile the way a caller with ranged reads does.
fn read_all(file: &[u8]) -> Result<Vec<Entry>, TFileError> {
    let len = file.len() as u64;
    let meta_at = parse_trailer(&file[(len - TRAILER_LEN) as usize..])?;
    let metas = parse_meta_index(&file[meta_at as usize..(len - TRAILER_LEN) as usize])?;
    let index = metas
        .get("BCFile.index")
        .ok_or(TFileError::MissingMeta("BCFile.index"))?;
    let slice = |r: Region| &file[r.offset as usize..(r.offset + r.stored_len) as usize];
    let raw = decompress(index.compression, slice(index.region), index.region.raw_len)?;
    let data = parse_data_index(&raw)?;
    let mut entries = Vec::new();
    for block in data.blocks {
        let raw = decompress(data.compression, slice(block), block.raw_len)?;
        entries.extend(parse_block(&raw)?);
    }
    Ok(entries)
}

fn file_of<'a>(logs: &'a [ContainerLogs], container: &str, name: &str) -> &'a [u8] {
    let c = logs
        .iter()
        .find(|c| c.container == container)
        .unwrap_or_else(|| panic!("no {container}"));
    let f = c.files.iter().find(|f| f.name == name).expect(name);
    assert!(!f.truncated);
    &f.bytes
}

fn check_fixture(file: &[u8]) {
    let logs = containers(read_all(file).unwrap()).unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    let first = "container_1700000000000_0007_01_000001";
    let second = "container_1700000000000_0007_01_000002";
    assert_eq!(file_of(&logs, first, "stdout"), b"master says hi\n");
    assert_eq!(file_of(&logs, first, "stderr"), b"");
    assert_eq!(
        file_of(&logs, second, "stderr"),
        "warning: ünïcode\n".as_bytes()
    );
    let long: String = (0..3000)
        .map(|i| format!("line {i:06} of a long log\n"))
        .collect();
    assert_eq!(file_of(&logs, second, "stdout"), long.as_bytes());
}

#[test]
fn reads_logs_hadoop_wrote_uncompressed() {
    check_fixture(include_bytes!("testdata/node_none"));
}

#[test]
fn reads_logs_hadoop_wrote_with_gz() {
    let file = include_bytes!("testdata/node_gz");
    let len = file.len() as u64;
    let metas = parse_meta_index(
        &file[parse_trailer(&file[(len - 28) as usize..]).unwrap() as usize..(len - 28) as usize],
    )
    .unwrap();
    assert_eq!(metas["BCFile.index"].compression, Compression::Gz);
    check_fixture(file);
}

#[test]
fn tfile_integers_decode_as_hadoop_writes_them() {
    let cases: &[(&[u8], i64)] = &[
        (&[0x00], 0),
        (&[0x7F], 127),
        (&[0xE0], -32),
        (&[0xFF], -1),
        (&[0xCB, 0xDF], -33),
        (&[0xCC, 0x80], 128),
        (&[0xCD, 0x00], 256),
        (&[0xDF, 0xFF], 5119),
        (&[0xA8, 0x14, 0x00], 5120),
        (&[0xB8, 0x00], -5120),
        (&[0xA7, 0xEB, 0xFF], -5121),
        (&[0xB7, 0xFF, 0xFF], 1_048_575),
        (&[0x90, 0x10, 0x00, 0x00], 1_048_576),
        (&[0x98, 0x00, 0x00], -1_048_576),
        (&[0x97, 0xFF, 0xFF, 0xFF], 134_217_727),
        (&[0x83, 0x08, 0x00, 0x00, 0x00], 134_217_728),
        (&[0x83, 0x7F, 0xFF, 0xFF, 0xFF], i32::MAX as i64),
        (&[0x83, 0x80, 0x00, 0x00, 0x00], i32::MIN as i64),
        (&[0x85, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00], 1 << 40),
    ];
    for (bytes, want) in cases {
        assert_eq!(read_vlong(bytes), Ok(*want), "{bytes:02X?}");
    }
    assert!(
        read_vlong(&[0x80, 0x01]).is_err(),
        "a 1-byte long form is corrupt"
    );
    assert!(read_vlong(&[0xCC]).is_err(), "truncated");
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let file = include_bytes!("testdata/node_none");
    let len = file.len();
    assert_eq!(parse_trailer(&file[..28]), Err(TFileError::NotTFile));
    // Every prefix of the meta index and of the first block fails cleanly.
    let meta_at = parse_trailer(&file[len - 28..]).unwrap() as usize;
    for cut in 0..len - 28 - meta_at {
        let _ = parse_meta_index(&file[meta_at..meta_at + cut]);
    }
    for cut in (0..meta_at).step_by(997) {
        let _ = parse_block(&file[16..16 + cut.min(meta_at - 16)]);
    }
    assert!(matches!(
        parse_data_index(b"\x03lzo\x00"),
        Err(TFileError::Compression(c)) if c == "lzo"
    ));
}

#[test]
fn a_value_shorter_than_declared_is_marked_truncated() {
    // Key "container_1" (writeUTF), value: "stdout", "10", then only 4 bytes.
    let mut key = vec![0, 11];
    key.extend_from_slice(b"container_1");
    let mut value = vec![0, 6];
    value.extend_from_slice(b"stdout");
    value.extend_from_slice(&[0, 2]);
    value.extend_from_slice(b"10");
    value.extend_from_slice(b"abcd");
    let logs = containers(vec![Entry { key, value }]).unwrap();
    assert_eq!(logs[0].files[0].bytes, b"abcd");
    assert!(logs[0].files[0].truncated);
}

#[test]
fn remote_dirs_follow_the_configuration() {
    let mut conf = crate::config::Configuration::new();
    let dirs = remote_app_dirs(&conf, "alice", "application_1_12345", 12345);
    assert_eq!(
        dirs[0],
        (
            LogFormat::TFile,
            "/tmp/logs/alice/bucket-logs-tfile/2345/application_1_12345".to_string()
        )
    );
    let has = |f: LogFormat, d: &str| dirs.contains(&(f, d.to_string()));
    assert!(has(
        LogFormat::TFile,
        "/tmp/logs/alice/logs/application_1_12345"
    ));
    assert!(has(
        LogFormat::IFile,
        "/tmp/logs/alice/bucket-logs-ifile/2345/application_1_12345"
    ));
    assert!(has(
        LogFormat::IFile,
        "/tmp/logs/alice/logs-ifile/application_1_12345"
    ));
    conf.set(
        "yarn.nodemanager.remote-app-log-dir",
        "hdfs://nn:8020/app-logs/",
    );
    conf.set(
        "yarn.log-aggregation.TFile.remote-app-log-dir-suffix",
        "mine",
    );
    let dirs = remote_app_dirs(&conf, "bob", "application_1_0002", 2);
    assert_eq!(
        dirs[0].1,
        "hdfs://nn:8020/app-logs/bob/bucket-mine/0002/application_1_0002"
    );
}

/// Every file an indexed log file lists, with its bytes, as a ranged reader gets them.
fn read_indexed(file: &[u8]) -> Vec<(String, String, Vec<u8>)> {
    use super::indexed;
    let end = file.len();
    let tail = &file[end - indexed::TRAILER_LEN as usize..];
    assert_eq!(&file[..32], &tail[4..], "the id at both ends");
    let len = indexed::parse_trailer(tail).unwrap() as usize;
    let meta_at = end - indexed::TRAILER_LEN as usize - len;
    let index = indexed::parse_index(&file[meta_at..meta_at + len]).unwrap();
    index
        .files
        .iter()
        .map(|f| {
            let stored = &file[f.start as usize..(f.start + f.stored_len) as usize];
            let bytes = decompress(index.compression, stored, f.size).unwrap();
            assert_eq!(bytes.len() as u64, f.size);
            (f.container.clone(), f.name.clone(), bytes)
        })
        .collect()
}

#[test]
fn reads_indexed_logs_hadoop_wrote() {
    for file in [
        &include_bytes!("testdata/ifile_none")[..],
        &include_bytes!("testdata/ifile_gz")[..],
    ] {
        let mut files = read_indexed(file);
        files.sort();
        let c = "container_1700000000000_0001_01_000001".to_string();
        assert_eq!(
            files,
            [
                (
                    c.clone(),
                    "stderr".into(),
                    b"hello stderr line\nsecond\n".to_vec()
                ),
                (c, "stdout".into(), b"hello stdout\n".to_vec()),
            ]
        );
    }
}

#[test]
fn an_appended_indexed_file_lists_every_upload_in_its_last_index() {
    let files = read_indexed(include_bytes!("testdata/ifile_rolling"));
    let names: Vec<_> = files
        .iter()
        .map(|(_, n, b)| (n.as_str(), b.as_slice()))
        .collect();
    assert_eq!(
        names,
        [
            ("syslog.0", &b"cycle 0\n"[..]),
            ("syslog.1", &b"cycle 1\n"[..])
        ]
    );
}

#[test]
fn damaged_indexes_are_errors_not_panics() {
    use super::indexed;
    let file = include_bytes!("testdata/ifile_gz");
    let end = file.len();
    let len = indexed::parse_trailer(&file[end - 36..]).unwrap() as usize;
    let meta = &file[end - 36 - len..end - 36];
    for cut in 0..meta.len() {
        assert!(indexed::parse_index(&meta[..cut]).is_err(), "cut at {cut}");
    }
    let mut flipped = meta.to_vec();
    for i in (4..flipped.len()).step_by(7) {
        flipped[i] ^= 0x55;
        let _ = indexed::parse_index(&flipped);
        flipped[i] ^= 0x55;
    }
    assert!(indexed::parse_trailer(&file[..10]).is_err());
    assert_eq!(
        indexed::parse_checksum(b"\x00\x00\x00\x03abc\x00\x00\x00\x00\x00\x00\x04\x41"),
        Ok(("abc".to_string(), 1089))
    );
    assert!(indexed::parse_checksum(b"\x00\x00\x00\x09abc").is_err());
}
