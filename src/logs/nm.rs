//! The logs of running containers, from their NodeManager's web service
//! (`/ws/v1/node/containers/<id>/logs` lists the files, `/ws/v1/node/containerlogs/<id>/<file>`
//! serves one, `size=-N` its last N bytes).

use std::time::Duration;

/// A request that gets no answer in this time has failed.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);

/// A log file a NodeManager has for a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileInfo {
    pub name: String,
    pub size: u64,
}

/// Some bytes of a log file: the last ones when asked for the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The whole file's length when it was read.
    pub file_len: u64,
    pub bytes: Vec<u8>,
}

pub struct NodeManagerLogs {
    http: reqwest::Client,
}

impl NodeManagerLogs {
    pub fn new() -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_DEADLINE)
            .connect_timeout(CONNECT_DEADLINE)
            .build()
            .map_err(|e| format!("cannot set up an HTTP client: {e}"))?;
        Ok(NodeManagerLogs { http })
    }

    /// The container's log files on its node, by name.
    pub async fn files(
        &self,
        node_http: &str,
        container: &str,
    ) -> Result<Vec<LogFileInfo>, String> {
        let url = format!("{}/ws/v1/node/containers/{container}/logs", base(node_http));
        let body = self.get(&url, true).await?;
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{url}: the answer is not JSON: {e}"))?;
        let mut files = local_files(&json);
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    /// The file, or its last `last` bytes.
    pub async fn read(
        &self,
        node_http: &str,
        container: &str,
        file: &str,
        last: Option<u64>,
    ) -> Result<Piece, String> {
        let mut url = format!(
            "{}/ws/v1/node/containerlogs/{container}/{file}",
            base(node_http)
        );
        if let Some(n) = last {
            url.push_str(&format!("?size=-{n}"));
        }
        let body = self.get(&url, false).await?;
        Ok(unframe(&body, last))
    }

    async fn get(&self, url: &str, json: bool) -> Result<Vec<u8>, String> {
        let mut req = self.http.get(url);
        if json {
            req = req.header("Accept", "application/json");
        }
        let res = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(format!("{url}: HTTP {status}: {}", text.trim()));
        }
        Ok(body.to_vec())
    }
}

/// `http://host:port` from a node's web address, which ResourceManagers report with or
/// without the scheme.
fn base(node_http: &str) -> String {
    let address = node_http.trim_end_matches('/');
    if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    }
}

/// The files of the NodeManager's local copy in its listing. The listing's shape varies
/// by Hadoop line (an object or an array at each level), so any object with a `fileName`
/// inside an entry whose `logAggregationType` is LOCAL (or unstated) counts.
fn local_files(json: &serde_json::Value) -> Vec<LogFileInfo> {
    use serde_json::Value;
    let mut out = Vec::new();
    fn walk(v: &Value, local: bool, out: &mut Vec<LogFileInfo>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, local, out)),
            Value::Object(map) => {
                let local = match map.get("logAggregationType").and_then(Value::as_str) {
                    Some(kind) => kind == "LOCAL",
                    None => local,
                };
                if let (true, Some(name)) = (local, map.get("fileName").and_then(Value::as_str)) {
                    let size = match map.get("fileSize") {
                        Some(Value::String(s)) => s.parse().unwrap_or(0),
                        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
                        _ => 0,
                    };
                    out.push(LogFileInfo {
                        name: name.to_string(),
                        size,
                    });
                }
                map.values().for_each(|child| walk(child, local, out));
            }
            _ => {}
        }
    }
    walk(json, true, &mut out);
    out.dedup();
    out
}

/// The file's bytes out of the NodeManager's framing: a header ending in
/// `LogLength:<n>` and `LogContents:`, the bytes, then a footer (and maybe the same again
/// for an aggregated copy, which is ignored). Nothing at all when there were no bytes.
fn unframe(body: &[u8], last: Option<u64>) -> Piece {
    let find = |needle: &[u8]| body.windows(needle.len()).position(|w| w == needle);
    let Some(len_at) = find(b"LogLength:") else {
        return Piece {
            file_len: 0,
            bytes: Vec::new(),
        };
    };
    let len_text = &body[len_at + 10..];
    let digits = len_text.iter().take_while(|b| b.is_ascii_digit()).count();
    let file_len: u64 = std::str::from_utf8(&len_text[..digits])
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let marker = b"LogContents:\n";
    let start = body[len_at..]
        .windows(marker.len())
        .position(|w| w == marker)
        .map(|p| len_at + p + marker.len())
        .unwrap_or(body.len());
    let count = last.map_or(file_len, |n| n.min(file_len)) as usize;
    let end = (start + count).min(body.len());
    Piece {
        file_len,
        bytes: body[start..end].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_keeps_the_local_files_of_any_shape() {
        let one: serde_json::Value = serde_json::json!({"containerLogsInfo": {
            "containerLogInfo": {"fileName": "stdout", "fileSize": "12", "lastModifiedTime": "x"},
            "logAggregationType": "LOCAL", "containerId": "c", "nodeId": "n:1"}});
        assert_eq!(
            local_files(&one),
            vec![LogFileInfo {
                name: "stdout".into(),
                size: 12
            }]
        );
        let many = serde_json::json!([
            {"containerLogInfo": [{"fileName": "stderr", "fileSize": "3"}, {"fileName": "stdout", "fileSize": "0"}],
             "logAggregationType": "LOCAL"},
            {"containerLogInfo": [{"fileName": "old", "fileSize": "9"}], "logAggregationType": "AGGREGATED"}
        ]);
        let names: Vec<_> = local_files(&many).into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["stderr", "stdout"]);
    }

    #[test]
    fn contents_come_out_of_the_framing() {
        let body = b"Container: c on n:1\nLogAggregationType: LOCAL\n===\nLogType:stdout\n\
            LogLastModifiedTime:Mon\nLogLength:11\nLogContents:\nhello\nworld\nEnd of LogType:stdout.\n***\n\n";
        let whole = unframe(body, None);
        assert_eq!(whole.file_len, 11);
        assert_eq!(whole.bytes, b"hello\nworld");
        let tail_body =
            b"LogType:stdout\nLogLength:11\nLogContents:\nworld\nEnd of LogType:stdout.";
        assert_eq!(unframe(tail_body, Some(5)).bytes, b"world");
        assert_eq!(unframe(b"", Some(5)).bytes, b"");
    }
}
