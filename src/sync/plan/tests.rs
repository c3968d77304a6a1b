use super::*;
use crate::source::Column;
use proptest::prelude::*;
use serde_json::json;

fn table(columns: &[&str], rows: Vec<Vec<Value>>) -> Table {
    Table {
        columns: columns
            .iter()
            .map(|c| Column {
                name: c.to_string(),
                type_name: "TEXT".into(),
            })
            .collect(),
        rows,
    }
}

fn entry(id: u64, data: Value) -> RemoteEntry {
    RemoteEntry::new(id, &data)
}

fn opts(pk: Option<&str>, ts: Option<&str>) -> PlanOptions {
    PlanOptions {
        primary_column: pk.map(String::from),
        timestamp_column: ts.map(String::from),
        ..Default::default()
    }
}

const T1: &str = "2024-03-05T09:14:27.512Z";
const T2: &str = "2024-03-05T09:14:28.512Z";

#[test]
fn first_sync_inserts_every_row() {
    let t = table(
        &["id", "name"],
        vec![vec![json!(1), json!("a")], vec![json!(2), json!("b")]],
    );
    let p = plan(&t, &[], &opts(Some("id"), None)).unwrap();
    assert_eq!(p.inserts, vec![0, 1]);
    assert!(p.updates.is_empty() && p.deletes.is_empty() && p.skipped.is_empty());
}

#[test]
fn resync_with_same_timestamps_changes_nothing() {
    let t = table(&["id", "ts"], vec![vec![json!(1), json!(T1)]]);
    let r = [entry(10, json!({"id": 1, "ts": T1}))];
    let p = plan(&t, &r, &opts(Some("id"), Some("ts"))).unwrap();
    assert!(p.is_empty());
    assert_eq!(
        p.unchanged,
        vec![Unchanged {
            row: 0,
            entry_id: 10
        }]
    );
}

#[test]
fn a_timestamp_one_second_later_is_an_update_and_half_a_second_is_not() {
    let t = table(
        &["id", "ts"],
        vec![
            vec![json!(1), json!(T2)],
            vec![json!(2), json!("2024-03-05T09:14:28.000Z")],
        ],
    );
    let r = [
        entry(10, json!({"id": 1, "ts": T1})),
        entry(11, json!({"id": 2, "ts": T1})),
    ];
    let p = plan(&t, &r, &opts(Some("id"), Some("ts"))).unwrap();
    assert_eq!(
        p.updates,
        vec![Update {
            row: 0,
            entry_id: 10
        }]
    );
    assert_eq!(
        p.unchanged,
        vec![Unchanged {
            row: 1,
            entry_id: 11
        }]
    );
}

#[test]
fn the_same_instant_in_another_notation_is_unchanged() {
    let t = table(
        &["id", "ts"],
        vec![vec![json!(1), json!("2024-03-05T11:14:27.512+02:00")]],
    );
    let r = [entry(10, json!({"id": 1, "ts": T1}))];
    let p = plan(&t, &r, &opts(Some("id"), Some("ts"))).unwrap();
    assert!(p.is_empty());
}

#[test]
fn unparseable_or_missing_remote_timestamps_count_as_changed() {
    let t = table(
        &["id", "ts"],
        vec![vec![json!(1), json!(T1)], vec![json!(2), json!(T1)]],
    );
    let r = [
        entry(10, json!({"id": 1, "ts": "yesterday"})),
        entry(11, json!({"id": 2})),
    ];
    let p = plan(&t, &r, &opts(Some("id"), Some("ts"))).unwrap();
    assert_eq!(p.updates.len(), 2);
}

#[test]
fn numbers_and_numeric_strings_are_the_same_key() {
    let t = table(
        &["id", "ts"],
        vec![
            vec![json!("9007199254740993"), json!(T1)],
            vec![json!(7), json!(T1)],
        ],
    );
    let r = [
        entry(1, json!({"id": "9007199254740993", "ts": T1})),
        entry(2, json!({"id": "7", "ts": T1})),
    ];
    let p = plan(&t, &r, &opts(Some("id"), Some("ts"))).unwrap();
    assert!(p.inserts.is_empty(), "{p:?}");
    assert_eq!(p.unchanged.len(), 2);
}

#[test]
fn case_insensitive_keys_match_regardless_of_case() {
    let t = table(&["email"], vec![vec![json!("Ann@Acme.test")]]);
    let r = [entry(5, json!({"email": "ann@acme.TEST"}))];
    let mut o = opts(Some("email"), None);
    let p = plan(&t, &r, &o).unwrap();
    assert_eq!(p.inserts, vec![0], "case-sensitive by default");
    o.case_insensitive = true;
    let p = plan(&t, &r, &o).unwrap();
    assert!(p.inserts.is_empty());
    assert_eq!(p.unchanged.len() + p.updates.len(), 1);
}

#[test]
fn rows_without_a_key_and_duplicate_keys_are_skipped_with_reasons() {
    let t = table(
        &["id"],
        vec![
            vec![json!(null)],
            vec![json!("")],
            vec![json!(3)],
            vec![json!("3")],
            vec![json!(0)],
        ],
    );
    let p = plan(&t, &[], &opts(Some("id"), None)).unwrap();
    assert_eq!(p.inserts, vec![2, 4], "0 is a valid key");
    assert_eq!(
        p.skipped,
        vec![
            Skip {
                row: 0,
                reason: SkipReason::MissingKey
            },
            Skip {
                row: 1,
                reason: SkipReason::MissingKey
            },
            Skip {
                row: 3,
                reason: SkipReason::DuplicateKey { first_row: 2 }
            },
        ]
    );
    assert!(p.skipped[2].reason.to_string().contains("duplicate"));
}

#[test]
fn delete_column_deletes_matched_entries_and_skips_unknown_ones() {
    let t = table(
        &["id", "deletedAt"],
        vec![
            vec![json!(1), json!(T1)],
            vec![json!(2), json!(T1)],
            vec![json!(3), json!(null)],
            vec![json!(4), json!(false)],
        ],
    );
    let r = [
        entry(11, json!({"id": 1})),
        entry(13, json!({"id": 3})),
        entry(14, json!({"id": 4})),
    ];
    let mut o = opts(Some("id"), None);
    o.delete_column = Some("deletedAt".into());
    let p = plan(&t, &r, &o).unwrap();
    assert_eq!(
        p.deletes,
        vec![Delete {
            entry_id: 11,
            remote: 0,
            reason: DeleteReason::Flagged { row: 0 }
        }]
    );
    assert_eq!(
        p.skipped,
        vec![Skip {
            row: 1,
            reason: SkipReason::DeletedNotOnFliplet
        }]
    );
    assert!(p.inserts.is_empty());
}

#[test]
fn update_mode_keeps_orphans_and_replace_mode_deletes_them() {
    let t = table(&["id", "ts"], vec![vec![json!(1), json!(T1)]]);
    let r = [
        entry(10, json!({"id": 1, "ts": T1})),
        entry(11, json!({"id": 2, "ts": T1})),
        entry(12, json!({"id": 1, "ts": T1})),
        entry(13, json!({"other": true})),
    ];
    let mut o = opts(Some("id"), Some("ts"));
    let p = plan(&t, &r, &o).unwrap();
    assert!(p.is_empty());
    o.mode = Mode::Replace;
    let p = plan(&t, &r, &o).unwrap();
    // Replace updates every matched row, like the original, and deletes every entry the
    // source does not return: orphans, remote duplicates of a key, entries without a key.
    assert_eq!(
        p.updates,
        vec![Update {
            row: 0,
            entry_id: 10
        }]
    );
    assert_eq!(p.delete_ids(), vec![11, 12, 13]);
    let reasons: Vec<DeleteReason> = p.deletes.iter().map(|d| d.reason).collect();
    assert_eq!(
        reasons,
        vec![
            DeleteReason::NotInSource,
            DeleteReason::DuplicateKey { kept: 10 },
            DeleteReason::NotInSource
        ]
    );
    assert_eq!(p.duplicates.len(), 1);
}

#[test]
fn entries_sharing_a_key_keep_the_lowest_id_and_are_removed_only_when_asked() {
    let t = table(&["id", "ts"], vec![vec![json!(1), json!(T2)]]);
    // Listed out of id order: the kept entry is the lowest id (7), whatever the order.
    let r = [
        entry(12, json!({"id": 1, "ts": T1})),
        entry(7, json!({"id": "1", "ts": T1})),
        entry(30, json!({"id": 1, "ts": T1})),
    ];
    let mut o = opts(Some("id"), Some("ts"));
    let p = plan(&t, &r, &o).unwrap();
    assert_eq!(
        p.updates,
        vec![Update {
            row: 0,
            entry_id: 7
        }]
    );
    let dups: Vec<(u64, u64)> = p.duplicates.iter().map(|d| (d.entry_id, d.kept)).collect();
    assert_eq!(dups, vec![(12, 7), (30, 7)]);
    assert!(p.deletes.is_empty(), "only reported without the option");
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("ids 12, 30") && w.contains("remove_duplicate_entries"))
    );
    o.remove_duplicates = true;
    let p = plan(&t, &r, &o).unwrap();
    assert_eq!(p.delete_ids(), vec![12, 30]);
    assert!(
        p.deletes
            .iter()
            .all(|d| d.reason == DeleteReason::DuplicateKey { kept: 7 })
    );
    assert_eq!(
        p.updates,
        vec![Update {
            row: 0,
            entry_id: 7
        }]
    );
}

#[test]
fn replace_with_an_empty_source_warns_that_everything_goes() {
    let t = table(&["id"], vec![]);
    let r = [entry(10, json!({"id": 1}))];
    let mut o = opts(Some("id"), None);
    o.mode = Mode::Replace;
    let p = plan(&t, &r, &o).unwrap();
    assert_eq!(p.delete_ids(), vec![10]);
    assert!(p.warnings[0].contains("delete all 1 entries"));
}

#[test]
fn without_a_primary_key_rows_are_appended_with_a_warning() {
    let t = table(&["name"], vec![vec![json!("a")], vec![json!("b")]]);
    let r = [entry(10, json!({"name": "a"}))];
    let p = plan(&t, &r, &opts(None, None)).unwrap();
    assert_eq!(p.inserts, vec![0, 1]);
    assert!(p.deletes.is_empty());
    assert!(p.warnings[0].starts_with("A primary key has not been set"));
}

#[test]
fn without_a_timestamp_column_content_decides() {
    let t = table(
        &["id", "name", "photo"],
        vec![
            vec![json!(1), json!("same"), json!("/tmp/a.jpg")],
            vec![json!(2), json!("new name"), json!(null)],
        ],
    );
    let r = [
        entry(
            10,
            json!({"id": 1, "name": "same", "photo": "https://cdn/x.jpg", "extra": 1}),
        ),
        entry(11, json!({"id": 2, "name": "old name"})),
    ];
    let mut o = opts(Some("id"), None);
    o.compare_ignore = vec!["photo".into()];
    let p = plan(&t, &r, &o).unwrap();
    assert_eq!(
        p.unchanged,
        vec![Unchanged {
            row: 0,
            entry_id: 10
        }]
    );
    assert_eq!(
        p.updates,
        vec![Update {
            row: 1,
            entry_id: 11
        }]
    );
}

#[test]
fn unknown_option_columns_are_errors_naming_the_columns() {
    let t = table(&["id", "Email"], vec![]);
    let e = plan(&t, &[], &opts(Some("ID"), None)).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("`primary_column: ID`") && msg.contains("id, Email"),
        "{msg}"
    );
    let e = plan(&t, &[], &opts(Some("id"), Some("updated"))).unwrap_err();
    assert!(e.to_string().contains("timestamp_column"));
}

#[test]
fn timestamp_column_may_equal_the_primary_column() {
    let t = table(&["ts"], vec![vec![json!(T1)]]);
    let r = [entry(10, json!({"ts": T1}))];
    let p = plan(&t, &r, &opts(Some("ts"), Some("ts"))).unwrap();
    assert_eq!(p.unchanged.len(), 1);
}

#[test]
fn extract_fields_reads_only_what_it_is_asked() {
    let raw = r#"{"a":1,"b\u0020c":"x","nested":{"id":5},"id":"k"}"#;
    assert_eq!(
        extract_fields(raw, &["id", "b c", "missing"]),
        vec![Some(json!("k")), Some(json!("x")), None]
    );
    assert_eq!(extract_fields("[1,2]", &["id"]), vec![None]);
}

#[test]
fn parse_instant_understands_the_usual_forms() {
    let utc = parse_instant(&json!("2024-03-05T09:14:27.512Z")).unwrap();
    assert_eq!(utc, 1_709_630_067_512);
    assert_eq!(parse_instant(&json!(1_709_630_067_512i64)), Some(utc));
    assert_eq!(
        parse_instant(&json!("2024-03-05T10:14:27.512+01:00")),
        Some(utc)
    );
    assert!(parse_instant(&json!("2024-03-05 09:14:27")).is_some());
    assert!(parse_instant(&json!("2024-03-05")).is_some());
    assert_eq!(parse_instant(&json!("not a date")), None);
    assert_eq!(parse_instant(&json!(null)), None);
}

/// Apply a plan the way Fliplet's commit does (append: true, extend: false).
fn apply(t: &Table, remote: &[RemoteEntry], p: &Plan, next_id: &mut u64) -> Vec<RemoteEntry> {
    let row_obj = |r: usize| -> Value {
        Value::Object(
            t.columns
                .iter()
                .zip(&t.rows[r])
                .map(|(c, v)| (c.name.clone(), v.clone()))
                .collect(),
        )
    };
    let deleted: std::collections::HashSet<u64> = p.delete_ids().into_iter().collect();
    let updates: HashMap<u64, usize> = p.updates.iter().map(|u| (u.entry_id, u.row)).collect();
    let mut out: Vec<RemoteEntry> = remote
        .iter()
        .filter(|e| !deleted.contains(&e.id))
        .map(|e| match updates.get(&e.id) {
            Some(&r) => RemoteEntry::new(e.id, &row_obj(r)),
            None => e.clone(),
        })
        .collect();
    for &r in &p.inserts {
        *next_id += 1;
        out.push(RemoteEntry::new(*next_id, &row_obj(r)));
    }
    out
}

fn arb_rows() -> impl Strategy<Value = Vec<(u8, u8, bool)>> {
    prop::collection::vec((0u8..40, 0u8..5, any::<bool>()), 0..60)
}

proptest! {
    /// Applying a plan and planning again sends nothing: the second run is a no-op.
    #[test]
    fn planning_after_applying_is_a_no_op(
        rows in arb_rows(),
        remote_rows in arb_rows(),
        replace in any::<bool>(),
        use_ts in any::<bool>(),
        ci in any::<bool>(),
    ) {
        let mk = |rows: &Vec<(u8, u8, bool)>| -> Vec<Vec<Value>> {
            rows.iter().map(|(k, v, upper)| {
                let key = if *upper { format!("K{k}") } else { format!("k{k}") };
                vec![json!(key), json!(format!("2024-01-01T00:00:{:02}.000Z", v * 10)), json!(v)]
            }).collect()
        };
        let t = table(&["key", "ts", "v"], mk(&rows));
        let mut next = 1000;
        let remote: Vec<RemoteEntry> = mk(&remote_rows).into_iter().enumerate().map(|(i, r)| {
            entry(i as u64 + 1, json!({"key": r[0], "ts": r[1], "v": r[2]}))
        }).collect();
        let o = PlanOptions {
            primary_column: Some("key".into()),
            timestamp_column: use_ts.then(|| "ts".into()),
            case_insensitive: ci,
            mode: if replace { Mode::Replace } else { Mode::Update },
            ..Default::default()
        };
        let p1 = plan(&t, &remote, &o).unwrap();
        let after = apply(&t, &remote, &p1, &mut next);
        let p2 = plan(&t, &after, &o).unwrap();
        prop_assert!(p2.inserts.is_empty(), "second plan inserts {:?}", p2.inserts);
        prop_assert!(p2.deletes.is_empty(), "second plan deletes {:?}", p2.deletes);
        if !replace {
            prop_assert!(p2.updates.is_empty(), "second plan updates {:?}", p2.updates);
        }
        // Every row is accounted for exactly once.
        let accounted = p1.inserts.len() + p1.updates.len() + p1.unchanged.len() + p1.skipped.len()
            + p1.deletes.iter().filter(|d| matches!(d.reason, DeleteReason::Flagged { .. })).count();
        prop_assert_eq!(accounted, t.rows.len());
    }
}

#[test]
fn file_columns_are_in_sync_once_uploaded() {
    let t = table(
        &["id", "photo"],
        vec![
            vec![json!(1), json!("/srv/a.jpg")],
            vec![json!(2), json!("/srv/b.jpg")],
            vec![json!(3), json!(null)],
            vec![json!(4), json!(null)],
        ],
    );
    let r = [
        // Uploaded: the remote URL differs from the path, but the media id is there.
        entry(
            10,
            json!({"id": 1, "photo": "https://cdn/1-a.jpg", "photoMediaFileId": 5}),
        ),
        // The file could not be fetched last time: the column was left out.
        entry(11, json!({"id": 2})),
        entry(12, json!({"id": 3, "photo": null})),
        // A null file column is compared as it is.
        entry(
            13,
            json!({"id": 4, "photo": "https://cdn/old.jpg", "photoMediaFileId": 6}),
        ),
    ];
    let mut o = opts(Some("id"), None);
    o.file_columns = vec!["photo".into()];
    let p = plan(&t, &r, &o).unwrap();
    let updated: Vec<usize> = p.updates.iter().map(|u| u.row).collect();
    let unchanged: Vec<usize> = p.unchanged.iter().map(|u| u.row).collect();
    assert_eq!(updated, vec![1, 3]);
    assert_eq!(unchanged, vec![0, 2]);
}

#[test]
fn encrypted_columns_are_compared_in_plaintext() {
    use crate::crypto::cryptojs_encrypt;
    let key = "k3y";
    let t = table(
        &["id", "email", "n"],
        vec![
            vec![json!(1), json!("a@x.test"), json!(42)],
            vec![json!(2), json!("b@new.test"), json!(7)],
            vec![json!(3), json!("c@x.test"), json!(0)],
        ],
    );
    let r = [
        entry(
            10,
            json!({"id": 1, "email": cryptojs_encrypt("a@x.test", key), "n": cryptojs_encrypt("42", key)}),
        ),
        entry(
            11,
            json!({"id": 2, "email": cryptojs_encrypt("b@old.test", key), "n": cryptojs_encrypt("7", key)}),
        ),
        // 0 is not encrypted (falsy): compared as it is.
        entry(
            12,
            json!({"id": 3, "email": cryptojs_encrypt("c@x.test", key), "n": 0}),
        ),
    ];
    let mut o = opts(Some("id"), None);
    o.encrypted_columns = vec!["email".into(), "n".into()];
    o.encryption_key = Some(crate::secret::Secret::new(key));
    let p = plan(&t, &r, &o).unwrap();
    let updated: Vec<usize> = p.updates.iter().map(|u| u.row).collect();
    assert_eq!(updated, vec![1]);
    assert_eq!(p.unchanged.len(), 2);

    // Without the key (a dry run before the keystore exists) nothing can be compared.
    o.encryption_key = None;
    assert_eq!(plan(&t, &r, &o).unwrap().updates.len(), 3);
    // With the wrong key, neither.
    o.encryption_key = Some(crate::secret::Secret::new("other"));
    assert_eq!(plan(&t, &r, &o).unwrap().updates.len(), 3);
}
