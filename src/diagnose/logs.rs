//! The access log lines of the requests a diagnosis names (the service writes
//! `"request_id":"…"` in each; see [`crate::telemetry::access_log`]).

use super::UserFinding;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Adds to each user the lines of their shown requests, from `paths`: files, or folders whose
/// `*access.log` files are read. A path that does not exist is skipped (no log is no error:
/// the ids are still shown).
pub(super) fn attach(users: &mut [UserFinding], paths: &[PathBuf]) {
    let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
    for (i, u) in users.iter().enumerate() {
        for id in &u.request_ids {
            wanted.insert(id.clone(), i);
        }
    }
    if wanted.is_empty() {
        return;
    }
    for file in paths.iter().flat_map(|p| files(p)) {
        let Ok(f) = std::fs::File::open(&file) else {
            continue;
        };
        for line in std::io::BufReader::new(f).lines() {
            let Ok(line) = line else {
                break;
            };
            if let Some(&i) = request_id(&line).and_then(|id| wanted.get(id)) {
                users[i].log_lines.push(line);
            }
        }
    }
}

/// `path` itself, or the access logs in the folder it names.
fn files(path: &Path) -> Vec<PathBuf> {
    if !path.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("access.log"))
        })
        .collect();
    found.sort();
    found
}

/// The request id of an access log line.
fn request_id(line: &str) -> Option<&str> {
    const KEY: &str = "\"request_id\":\"";
    let rest = &line[line.find(KEY)? + KEY.len()..];
    rest.find('"').map(|end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_lines_of_the_shown_requests_in_a_folder() {
        let dir = std::env::temp_dir().join(format!("monlab-diagnose-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let line = |id: &str| format!("{{\"ts\":1.0,\"msg\":\"access\",\"request_id\":\"{id}\"}}");
        std::fs::write(
            dir.join("monlab-access.log"),
            format!("{}\n{}\n", line("r1"), line("r2")),
        )
        .unwrap();
        std::fs::write(dir.join("monlab.log"), line("r1")).unwrap();
        let mut users = vec![UserFinding {
            user_id: "u1".into(),
            requests: 1,
            first_seen: 1.0,
            last_seen: 1.0,
            max_value: 2.0,
            request_ids: vec!["r1".into()],
            log_lines: vec![],
        }];
        attach(&mut users, &[dir.clone(), dir.join("missing.log")]);
        let _ = std::fs::remove_dir_all(&dir);
        // Only the access log is read, and only r1's line is kept.
        assert_eq!(users[0].log_lines, [line("r1")]);
        assert_eq!(request_id("no id here"), None);
    }
}
