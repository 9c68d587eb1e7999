//! The repository's files as the tests read them: its root, the files under a folder, text
//! and YAML, each failing the test with the path when it cannot be read.

use std::path::{Path, PathBuf};

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `relative` inside the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    repo_root().join(relative)
}

/// The repository's deploy folder.
pub fn deploy_dir() -> PathBuf {
    repo_path("deploy")
}

/// Every file under `dir` (its subfolders too) whose name ends with `suffix`, sorted.
pub fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries =
            std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        for entry in entries {
            let path = entry.expect("a readable directory entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The text of `path`.
pub fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `path` parsed as YAML.
pub fn read_yaml(path: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&read_text(path))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}
