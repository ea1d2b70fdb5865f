//! Container exit statuses as people should read them.

/// YARN's special (negative) exit statuses, from `ContainerExitStatus`.
pub fn describe_exit(status: i32, diagnostics: &str) -> String {
    let what = match status {
        0 => "exited normally".to_string(),
        -100 => "aborted (released or lost by the cluster)".to_string(),
        -101 => "failed: the node's disks failed".to_string(),
        -102 => "preempted by the scheduler".to_string(),
        -103 => "killed for exceeding its virtual memory limit".to_string(),
        -104 => "killed for exceeding its physical memory limit (raise workers.memory)".to_string(),
        -105 => "killed by the application master".to_string(),
        -106 => "killed by the ResourceManager".to_string(),
        -107 => "killed after the application finished".to_string(),
        137 => "killed (SIGKILL, exit status 137)".to_string(),
        143 => "terminated (SIGTERM, exit status 143)".to_string(),
        s => format!("exited with status {s}"),
    };
    let diagnostics = diagnostics.trim();
    if diagnostics.is_empty() {
        what
    } else {
        // NodeManager diagnostics can hold a whole stack trace; the first lines say why.
        let short: Vec<&str> = diagnostics.lines().take(3).collect();
        format!("{what}: {}", short.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_memory_kills_and_keeps_diagnostics_short() {
        let d = describe_exit(-104, "Container killed\nDump of the process-tree\na\nb\nc");
        assert!(
            d.starts_with("killed for exceeding its physical memory"),
            "{d}"
        );
        assert!(
            d.ends_with("Container killed | Dump of the process-tree | a"),
            "{d}"
        );
        assert_eq!(describe_exit(3, ""), "exited with status 3");
    }
}
