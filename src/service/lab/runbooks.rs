//! The runbooks of `docs/runbooks/`, embedded so that an alert on the lab page links to its
//! runbook with no network and no checkout at hand.
//!
//! See [`get`]. A test keeps [`ALL`] equal to the folder, so a new runbook cannot be left out.

macro_rules! runbook {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/docs/runbooks/",
                $name
            )),
        )
    };
}

/// Every runbook: its file name and its Markdown.
pub(crate) const ALL: &[(&str, &str)] = &[
    runbook!("README.md"),
    runbook!("monlabbatchjobfailed.md"),
    runbook!("monlabbatchjobstale.md"),
    runbook!("monlabdeclinesharehigh.md"),
    runbook!("monlabestimatedqualitylow.md"),
    runbook!("monlabfeaturedrift.md"),
    runbook!("monlabfeaturemissing.md"),
    runbook!("monlabhigherrorratio.md"),
    runbook!("monlablatencybudgetburn.md"),
    runbook!("monlabloginsfailing.md"),
    runbook!("monlabmetricsabsent.md"),
    runbook!("monlabmodelfallbackhigh.md"),
    runbook!("monlabmodelqualitylow.md"),
    runbook!("monlaboutputcollapse.md"),
    runbook!("monlabrequestsshed.md"),
    runbook!("monlabsaturationhigh.md"),
    runbook!("monlabslowrequests.md"),
    runbook!("monlabtargetdown.md"),
    runbook!("monlabtargetmissing.md"),
    runbook!("watchdog.md"),
];

/// The Markdown of the runbook with this file name (e.g. `monlabtargetdown.md`).
pub(crate) fn get(name: &str) -> Option<&'static str> {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runbook_in_the_folder_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/runbooks");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".md"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = ALL.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            embedded, on_disk,
            "update ALL in src/service/lab/runbooks.rs"
        );
    }

    #[test]
    fn every_alert_links_to_an_embedded_runbook() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/rules");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                if let Some(url) = line.trim().strip_prefix("runbook_url:") {
                    // The page links docs/runbooks/<name> to /lab/runbooks/<name>.
                    let url = url.trim();
                    let name = url.strip_prefix("docs/runbooks/").unwrap_or(url);
                    assert!(get(name).is_some(), "{url} is not embedded");
                    seen += 1;
                }
            }
        }
        assert!(seen >= 10, "runbook links found: {seen}");
        assert_eq!(get("nope.md"), None);
    }
}
