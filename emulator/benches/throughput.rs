//! Throughput of the emulator for the two heavy calls of a push: a commit of 10,000
//! entries and a listing of 1,000,000 entries. Prints requests/s.
//!
//! `cargo bench -p fliplet-emulator --bench throughput` (set `EMU_BENCH_QUICK=1` for a
//! smaller, faster run).

use std::time::Instant;

use fliplet_emulator::Emulator;
use serde_json::{Value, json};

const OFFICES: [&str; 3] = ["London", "Paris", "Berlin"];

fn row(i: usize) -> Value {
    json!({
        "id": i,
        "Email": format!("user{i}@acme.test"),
        "Full Name": format!("User Number {i}"),
        "Office": OFFICES[i % 3],
        "Salary": 30000 + (i % 5000) as u64,
        "updatedAt": "2024-03-02T09:00:00.000Z"
    })
}

fn main() {
    let quick = std::env::var_os("EMU_BENCH_QUICK").is_some();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let emu = Emulator::start().await;
        let basic = emu.setup_basic();
        let http = reqwest::Client::new();

        // ---- commit of 10,000 entries (append:false keeps the data source at 10k)
        let entries: Vec<Value> = (0..10_000).map(|i| json!({ "data": row(i) })).collect();
        for (label, return_entries) in [("returnEntries:true ", true), ("returnEntries:false", false)] {
            let body = serde_json::to_vec(&json!({
                "append": false, "entries": entries, "returnEntries": return_entries
            }))
            .unwrap();
            let url = format!("{}/v1/data-sources/{}/commit", emu.url(), basic.data_source_id);
            let n = if quick { 3 } else { 20 };
            let start = Instant::now();
            let mut bytes = 0;
            for _ in 0..n {
                let r = http
                    .post(&url)
                    .header("Auth-token", &basic.token)
                    .header("Content-Type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                bytes = r.bytes().await.unwrap().len();
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "commit 10k entries ({label}): {:.1} requests/s, {:.0} entries/s ({} KiB request, {} KiB response)",
                n as f64 / secs,
                n as f64 * 10_000.0 / secs,
                body.len() / 1024,
                bytes / 1024
            );
        }
        emu.clear_journal();

        // ---- listing of 1,000,000 entries
        let total = if quick { 100_000 } else { 1_000_000 };
        let ds = emu.add_data_source(basic.organization_id, "Big");
        emu.grant(&basic.token, ds, fliplet_emulator::Perm::ALL);
        let seed = Instant::now();
        for chunk in (0..total).collect::<Vec<_>>().chunks(100_000) {
            emu.insert_entries(ds, chunk.iter().map(|i| row(*i)).collect());
        }
        println!("seeded {total} entries in {:.2}s", seed.elapsed().as_secs_f64());
        let url = format!("{}/v1/data-sources/{ds}/data", emu.url());
        let n = if quick { 3 } else { 5 };
        let start = Instant::now();
        let mut size = 0;
        let mut ttfb = 0.0;
        for _ in 0..n {
            let t = Instant::now();
            let mut r = http.get(&url).header("Auth-token", &basic.token).send().await.unwrap();
            ttfb += t.elapsed().as_secs_f64();
            assert_eq!(r.status(), 200);
            size = 0;
            while let Some(chunk) = r.chunk().await.unwrap() {
                size += chunk.len();
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "list {total} entries: {:.2} requests/s ({:.0} ms per request of which {:.0} ms until the headers, {} MiB, {:.0} MiB/s)",
            n as f64 / secs,
            secs * 1000.0 / n as f64,
            ttfb * 1000.0 / n as f64,
            size >> 20,
            (size * n) as f64 / secs / (1 << 20) as f64
        );
    });
}
