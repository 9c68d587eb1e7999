//! The lab page's files, built from `lab/` and embedded in the binary.
//!
//! The built files are committed (`src/service/lab/assets/`), so `cargo build` needs no Node.js and
//! no network; `cd lab && npm ci && npm run build` rebuilds them. The build records a hash of
//! its sources in `source-hash.txt`, and a test here recomputes it, so a change to `lab/`
//! without a rebuild fails `cargo test` on any machine. (`.ci/run` also rebuilds the bundle
//! and checks it equals the committed one byte for byte.)

/// The page.
pub(crate) const INDEX_HTML: &str = include_str!("assets/index.html");
/// The script: the page's code with uPlot, bundled by esbuild.
pub(crate) const LAB_JS: &str = include_str!("assets/lab.js");
/// The style sheet: the page's with uPlot's.
pub(crate) const LAB_CSS: &str = include_str!("assets/lab.css");

/// The names under `/lab/assets/`.
pub(crate) const NAMES: [&str; 2] = ["lab.js", "lab.css"];

/// An asset's body and content type.
pub(crate) fn get(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "lab.js" => Some((LAB_JS, "text/javascript; charset=utf-8")),
        "lab.css" => Some((LAB_CSS, "text/css; charset=utf-8")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{fnv1a64, FNV_OFFSET};

    /// `fnv1a64 <hex>`: the hash of the sources the files above were built from.
    const SOURCE_HASH: &str = include_str!("assets/source-hash.txt");
    use std::path::{Path, PathBuf};

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path);
            }
        }
    }

    #[test]
    fn the_committed_bundle_is_built_from_the_current_sources() {
        let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("lab");
        let mut paths = vec![
            lab.join("package.json"),
            lab.join("package-lock.json"),
            lab.join("build.mjs"),
        ];
        files(&lab.join("src"), &mut paths);
        let mut named: Vec<(String, PathBuf)> = paths
            .into_iter()
            .map(|p| {
                let rel = p
                    .strip_prefix(&lab)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                (rel, p)
            })
            .collect();
        named.sort();
        let mut hash = FNV_OFFSET;
        for (rel, path) in &named {
            hash = fnv1a64(rel.as_bytes(), hash);
            hash = fnv1a64(&[0], hash);
            hash = fnv1a64(&std::fs::read(path).unwrap(), hash);
            hash = fnv1a64(&[0], hash);
        }
        assert_eq!(
            SOURCE_HASH.trim(),
            format!("fnv1a64 {hash:016x}"),
            "src/service/lab/assets/ is stale: rebuild it with `cd lab && npm ci && npm run build` \
             (sources: {:?})",
            named.iter().map(|(r, _)| r).collect::<Vec<_>>()
        );
    }

    #[test]
    fn fnv1a64_matches_its_reference_values() {
        // From the FNV reference test vectors.
        assert_eq!(fnv1a64(b"", FNV_OFFSET), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a", FNV_OFFSET), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar", FNV_OFFSET), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_page_loads_only_its_own_assets() {
        for name in NAMES {
            assert!(
                INDEX_HTML.contains(&format!("/lab/assets/{name}")),
                "{name}"
            );
        }
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"));
        assert!(
            !LAB_CSS.contains("@import"),
            "a CSS import would load at run time"
        );
    }
}
