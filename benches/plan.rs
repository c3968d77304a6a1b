//! Criterion bench of the pure plan at 10k, 100k and 1M rows (4 columns: int id, two text
//! columns, a timestamp), for a first sync (empty data source) and a re-sync with 1% of the
//! rows changed. Run: `cargo bench --bench plan`.
//!
//! `PLAN_BENCH_CPU=1 cargo bench --bench plan` instead prints the median *thread CPU time* of
//! each case over 5 runs: on a shared 2-core machine, wall time measures the other processes
//! as much as the plan, CPU time much less so.

use criterion::{BenchmarkId, Criterion, criterion_group};
use fliplet_agent::config::Mode;
use fliplet_agent::fliplet::RemoteEntry;
use fliplet_agent::source::{Column, Table};
use fliplet_agent::sync::{PlanOptions, plan};
use serde_json::{Value, json};

fn ts(i: usize, bump: bool) -> String {
    let secs = (i % 86_400) as i64 + if bump { 3600 } else { 0 };
    let base = chrono::DateTime::from_timestamp(1_700_000_000 + secs, 512_000_000).unwrap();
    base.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn table(n: usize) -> Table {
    let col = |n: &str| Column {
        name: n.into(),
        type_name: "TEXT".into(),
    };
    Table {
        columns: vec![col("id"), col("name"), col("email"), col("updatedAt")],
        rows: (0..n)
            .map(|i| {
                vec![
                    json!(i),
                    Value::String(format!("Person {i}")),
                    Value::String(format!("person{i}@example.com")),
                    Value::String(ts(i, i % 100 == 0)),
                ]
            })
            .collect(),
    }
}

fn remote(n: usize) -> Vec<RemoteEntry> {
    (0..n)
        .map(|i| {
            RemoteEntry::new(
                i as u64 + 1,
                &json!({"id": i, "name": format!("Person {i}"), "email": format!("person{i}@example.com"), "updatedAt": ts(i, false)}),
            )
        })
        .collect()
}

fn options() -> PlanOptions {
    PlanOptions {
        primary_column: Some("id".into()),
        timestamp_column: Some("updatedAt".into()),
        mode: Mode::Update,
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let opts = options();
    let mut g = c.benchmark_group("plan");
    g.sample_size(10);
    for n in [10_000usize, 100_000, 1_000_000] {
        let t = table(n);
        let r = remote(n);
        g.bench_with_input(BenchmarkId::new("first_sync", n), &n, |b, _| {
            b.iter(|| plan(&t, &[], &opts).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("resync_1pct_changed", n), &n, |b, _| {
            b.iter(|| {
                let p = plan(&t, &r, &opts).unwrap();
                assert_eq!(p.updates.len(), n / 100);
                p
            })
        });
    }
    g.finish();
}

/// CPU time consumed by the calling thread so far.
fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn cpu_report() {
    let opts = options();
    println!("{:>9}  {:<22} {:>14}", "rows", "case", "median CPU ms");
    for n in [10_000usize, 100_000, 1_000_000] {
        let t = table(n);
        let r = remote(n);
        for (name, remote) in [("first_sync", &[][..]), ("resync_1pct_changed", &r[..])] {
            let mut times: Vec<f64> = (0..5)
                .map(|_| {
                    let start = thread_cpu();
                    let p = std::hint::black_box(plan(&t, remote, &opts).unwrap());
                    let spent = thread_cpu() - start;
                    drop(p);
                    spent.as_secs_f64() * 1000.0
                })
                .collect();
            times.sort_by(f64::total_cmp);
            println!("{n:>9}  {name:<22} {:>14.1}", times[2]);
        }
    }
}

criterion_group!(benches, bench);

fn main() {
    if std::env::var_os("PLAN_BENCH_CPU").is_some() {
        cpu_report();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
