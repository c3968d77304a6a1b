//! The stale-data watchdog: the `stale_after` key in both job formats, and the command line
//! (`fliplet-agent start` records its runs in the app's run history; `fliplet-agent status`
//! reads them), run as a user runs it against the Fliplet emulator.

mod common;

use std::path::Path;

use fliplet_agent::config::{emit, parse_job};
use fliplet_agent::wizard::JobDraft;

const LEGACY: &str = "auth_token: keychain:fliplet-agent/sales/auth_token\ndatasource_id: 1\ndatabase_driver: sqlite\ndatabase_name: a.sqlite\nquery: SELECT 1\nfrequency: '*/15 * * * *'\n";
const MULTI: &str = "auth_token: keychain:fliplet-agent/sales/auth_token\noperations:\n  - type: push\n    frequency: '0 * * * *'\n    source: {type: rows, rows: [{id: 1}]}\n    datasource_id: 1\n";

fn parse(text: &str) -> Result<fliplet_agent::config::LoadedJob, String> {
    parse_job(text, Path::new("/jobs/sales.yml")).map_err(|e| e.to_string())
}

#[test]
fn stale_after_is_read_from_both_formats() {
    for (text, want) in [
        ("stale_after: 36h\n", Some(129_600)),
        ("stale_after: 1d12h\n", Some(129_600)),
        ("stale_after: 3600\n", Some(3600)),
        ("stale_after: '90m'\n", Some(5400)),
        ("stale_after: 0\n", Some(0)),
        ("", None),
    ] {
        for base in [LEGACY, MULTI] {
            let loaded = parse(&format!("{base}{text}")).unwrap();
            assert_eq!(loaded.job.stale_after, want, "{text}");
            assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        }
    }
}

#[test]
fn a_wrong_stale_after_names_the_key_and_line() {
    for base in [LEGACY, MULTI] {
        let line = base.lines().count() + 1;
        let e = parse(&format!("{base}stale_after: soon\n")).unwrap_err();
        assert!(
            e.contains(&format!(
                "sales.yml:{line}: `stale_after`: expected a duration like `36h`"
            )),
            "{e}"
        );
        let e = parse(&format!("{base}stale_after: 3d4\n")).unwrap_err();
        assert!(e.contains("`4` has no unit"), "{e}");
    }
    // A typo is an unknown key with a did-you-mean.
    let loaded = parse(&format!("{LEGACY}stale_afer: 1d\n")).unwrap();
    let w = loaded.warnings[0].to_string();
    assert!(w.contains("stale_after"), "{w}");
}

#[test]
fn stale_after_is_written_back_and_kept_by_the_wizard() {
    let job = parse(&format!("{LEGACY}stale_after: 36h\n")).unwrap().job;
    let text = emit::to_multi_yaml(&job);
    assert!(text.contains("\nstale_after: \"1d12h\"\n"), "{text}");
    assert_eq!(parse(&text).unwrap().job.stale_after, Some(129_600));
    let none = parse(LEGACY).unwrap().job;
    assert!(!emit::to_multi_yaml(&none).contains("stale_after"));

    let draft = JobDraft::from_job(&job, Some("sales")).unwrap();
    assert_eq!(draft.stale_after, Some(129_600));
    assert_eq!(draft.to_job().unwrap().stale_after, Some(129_600));
    // The front end need not send it.
    let mut json = serde_json::to_value(&draft).unwrap();
    json.as_object_mut().unwrap().remove("staleAfter").unwrap();
    let back: JobDraft = serde_json::from_value(json).unwrap();
    assert_eq!(back.stale_after, None);
}
