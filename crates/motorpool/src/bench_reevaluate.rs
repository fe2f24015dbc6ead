//! `motorpool bench reevaluate`: times the hourly maintenance job's full
//! re-evaluation (every active schedule of every tenant, with each
//! vehicle's health), the "full re-evaluation" row, as medians.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;

use crate::config::Common;

#[derive(Debug, Args)]
pub struct ReevaluateArgs {
    /// How many timed runs.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Evaluate run n at today + n × this many days. 0 (the default): every
    /// run at today, as the hourly job's passes are. 1: every run is the
    /// first pass of a new day. A year: every schedule has moved (overdue),
    /// the worst case a pass can meet.
    #[arg(long, default_value_t = 0)]
    pub days_ahead: i64,
    /// Where the run's JSON summary goes.
    #[arg(long, default_value = "target/bench")]
    pub out_dir: PathBuf,
}

#[derive(Debug, Serialize)]
struct Summary {
    backend: String,
    days_ahead: i64,
    /// Schedules due a recheck in the last run.
    schedules: u64,
    seconds: Vec<f64>,
    median_seconds: f64,
}

pub async fn run(common: &Common, args: &ReevaluateArgs) -> anyhow::Result<()> {
    let store = crate::serve::connect_for_command(&common.database_url).await?;
    store.check_schema().await?;
    let mut seconds = Vec::new();
    let mut schedules = 0;
    for run in 1..=args.runs.max(1) {
        let mut day = OffsetDateTime::now_utc().date();
        day += time::Duration::days(args.days_ahead * i64::from(run));
        let started = Instant::now();
        schedules = store.reevaluate_all_schedules(day).await?;
        let took = started.elapsed().as_secs_f64();
        println!("run {run}: {schedules} schedules rechecked at {day} in {took:.3} s");
        seconds.push(took);
    }
    store.close().await;
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let summary = Summary {
        backend: store.kind().as_str().to_string(),
        days_ahead: args.days_ahead,
        schedules,
        median_seconds: sorted[sorted.len() / 2],
        seconds,
    };
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let path = args.out_dir.join(format!(
        "reevaluate-{}-{}.json",
        summary.backend,
        OffsetDateTime::now_utc().unix_timestamp()
    ));
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "median {:.3} s over {} runs ({} schedules rechecked in the last); {}",
        summary.median_seconds,
        summary.seconds.len(),
        summary.schedules,
        path.display()
    );
    Ok(())
}
