//! Credentials files written by spindle are read by Hadoop's own `Credentials` class and
//! vice versa, in both the Writable and the protobuf layout. Runs
//! `spindle.minicluster.CredentialsTool` from the launcher's class path; if Java or
//! Maven is missing the test fails.

use std::path::Path;
use std::process::Command;

use spindle_hadoop::credentials::{Credentials, CredentialsFormat, Token};

fn classpath() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/minicluster.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--print-classpath")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "building the launcher failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn tool(cp: &str, args: &[&str]) -> String {
    let out = Command::new("java")
        .arg("-cp")
        .arg(cp)
        .arg("spindle.minicluster.CredentialsTool")
        .args(args)
        .output()
        .expect("run java");
    assert!(
        out.status.success(),
        "CredentialsTool {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "-".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sample() -> Credentials {
    let mut c = Credentials::default();
    c.tokens.insert(
        "amrm".into(),
        Token {
            identifier: vec![1, 2, 3],
            password: vec![4, 5],
            kind: "YARN_AM_RM_TOKEN".into(),
            service: "127.0.0.1:8030".into(),
        },
    );
    c.tokens.insert(
        "big".into(),
        Token {
            identifier: (0..300u32).map(|i| i as u8).collect(),
            password: vec![],
            kind: "K".into(),
            service: String::new(),
        },
    );
    c.secrets.insert("spindle.secret".into(), vec![0xff, 0]);
    c
}

/// The lines `CredentialsTool dump` prints for `c`.
fn expected_dump(c: &Credentials) -> String {
    let mut lines: Vec<String> = c
        .tokens
        .iter()
        .map(|(alias, t)| {
            // Hadoop's Text of an empty service prints as nothing between two spaces.
            format!(
                "token {alias} {} {} {} {}",
                t.kind,
                t.service,
                hex(&t.identifier),
                hex(&t.password)
            )
        })
        .chain(
            c.secrets
                .iter()
                .map(|(alias, s)| format!("secret {alias} {}", hex(s))),
        )
        .collect();
    lines.sort();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn credentials_interoperate_with_hadoop() {
    let cp = classpath();
    let dir = tempfile::tempdir().unwrap();
    let ours = sample();

    for (name, format) in [
        ("writable", CredentialsFormat::Writable),
        ("protobuf", CredentialsFormat::Protobuf),
    ] {
        // spindle writes, Hadoop reads.
        let path = dir.path().join(format!("ours-{name}.hdts"));
        std::fs::write(&path, ours.write(format)).unwrap();
        let dumped = tool(&cp, &["dump", path.to_str().unwrap()]);
        assert_eq!(
            dumped,
            expected_dump(&ours),
            "Hadoop reading our {name} file"
        );

        // Hadoop writes, spindle reads.
        let path = dir.path().join(format!("theirs-{name}.hdts"));
        tool(&cp, &["write", path.to_str().unwrap(), name]);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[4], if name == "writable" { 0 } else { 1 });
        let theirs = Credentials::read(&bytes).expect("read Hadoop's file");
        assert_eq!(theirs, ours, "our reading of Hadoop's {name} file");
        // Writable output is byte-identical when the entries are in the same order:
        // compare through a re-read rather than bytes, since Hadoop orders by hash.
        assert_eq!(Credentials::read(&theirs.write(format)).unwrap(), ours);
    }
}
