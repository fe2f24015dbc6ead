//! `motorpool ingest candump`: stream a `candump -l` log of any size into a
//! vehicle's faults, in batches, with bounded memory and a progress bar.
//!
//! Each batch commits on its own, and ingestion is idempotent, so a run that
//! is interrupted is finished by running the same command again.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use domain::fault_code::{FaultMessage, Origin};
use domain::j1939::PGN_DM1;
use domain::j1939::log_reader::{LineOutcome, LogReader};
use indicatif::{ProgressBar, ProgressStyle};
use store::{AuditContext, ItemOutcome, StoreError, TelemetryItem, VehicleRef};
use time::OffsetDateTime;

use crate::config::Common;

#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// Read DM1/DM2 messages (single frames and BAM transport) from a
    /// `candump -l` log into a vehicle's faults.
    Candump(CandumpArgs),
}

#[derive(Debug, Args)]
pub struct CandumpArgs {
    /// The log file (`candump -l can0` output).
    pub file: PathBuf,
    /// The tenant's slug.
    #[arg(long)]
    pub tenant: String,
    /// The truck: its id, exact name, unit number or VIN.
    #[arg(long)]
    pub vehicle: String,
    /// Messages per committed batch.
    #[arg(long, default_value_t = 2000)]
    pub batch_size: usize,
}

/// How many malformed lines are printed (all are counted).
const SHOWN_ERRORS: usize = 10;

#[derive(Debug, Default)]
struct Tally {
    lines: u64,
    dm1: u64,
    dm2: u64,
    other_frames: u64,
    bad_lines: u64,
    created: u64,
    duplicate: u64,
    applied: u64,
    rejected: u64,
}

pub async fn run(common: &Common, command: IngestCommand) -> anyhow::Result<()> {
    let IngestCommand::Candump(args) = command;
    let store = crate::serve::connect_for_command(&common.database_url).await?;
    if store.kind() == store::BackendKind::Sqlite {
        store.migrate().await?;
    }
    store.check_schema().await?;
    let result = candump(&store, args).await;
    store.close().await;
    result
}

fn observed_at(at_micros: i64) -> Result<OffsetDateTime, String> {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_micros) * 1000)
        .map_err(|e| format!("timestamp out of range: {e}"))?;
    if at.year() < 2000 {
        return Err(
            "timestamp before 2000: record the log with `candump -l` (absolute time)".into(),
        );
    }
    if at > OffsetDateTime::now_utc() + time::Duration::minutes(5) {
        return Err("timestamp in the future".into());
    }
    Ok(at)
}

async fn flush(
    store: &store::Store,
    tenant: domain::ids::TenantId,
    batch: &mut Vec<TelemetryItem>,
    max_daily_km: f64,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let outcomes = store
        .ingest_telemetry(
            tenant,
            batch,
            Origin::Cli,
            max_daily_km,
            &AuditContext::system("cli ingest candump"),
        )
        .await?;
    for o in outcomes {
        match o {
            ItemOutcome::Created => tally.created += 1,
            ItemOutcome::Duplicate => tally.duplicate += 1,
            ItemOutcome::Applied => tally.applied += 1,
            ItemOutcome::Rejected { .. } => tally.rejected += 1,
        }
    }
    batch.clear();
    Ok(())
}

async fn candump(store: &store::Store, args: CandumpArgs) -> anyhow::Result<()> {
    let tenant = store
        .tenant_by_slug(&args.tenant)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => anyhow!("no tenant has the slug `{}`", args.tenant),
            other => other.into(),
        })?;
    let vehicle = crate::import::find_vehicle(store, tenant.id, &args.vehicle).await?;
    let max_daily_km = tenant.max_daily_km();
    let file =
        File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} ({eta} left) {msg}")
    {
        bar.set_style(style);
    }
    let mut input = BufReader::new(file);
    let mut reader = LogReader::new();
    let mut tally = Tally::default();
    let batch_size = args.batch_size.clamp(1, 10_000);
    let mut batch = Vec::with_capacity(batch_size);
    let mut raw = Vec::new();
    let mut read_bytes = 0u64;
    loop {
        raw.clear();
        let n = input
            .read_until(b'\n', &mut raw)
            .with_context(|| format!("reading {}", args.file.display()))?;
        if n == 0 {
            break;
        }
        read_bytes += n as u64;
        tally.lines += 1;
        let outcome = match std::str::from_utf8(&raw) {
            Ok(line) => reader.line(line).map_err(|e| e.to_string()),
            Err(_) => Err("not UTF-8 text".to_string()),
        };
        let dm = match outcome {
            Ok(LineOutcome::Dm(dm)) => dm,
            Ok(LineOutcome::Other) => {
                tally.other_frames += 1;
                continue;
            }
            Ok(LineOutcome::Skipped) => continue,
            Err(message) => {
                tally.bad_lines += 1;
                if tally.bad_lines <= SHOWN_ERRORS as u64 {
                    bar.suspend(|| eprintln!("line {}: {message}", tally.lines));
                }
                continue;
            }
        };
        let at = match observed_at(dm.at_micros) {
            Ok(at) => at,
            Err(message) => {
                tally.bad_lines += 1;
                if tally.bad_lines <= SHOWN_ERRORS as u64 {
                    bar.suspend(|| eprintln!("line {}: {message}", tally.lines));
                }
                continue;
            }
        };
        let message = if dm.pgn == PGN_DM1 {
            tally.dm1 += 1;
            FaultMessage::Dm1
        } else {
            tally.dm2 += 1;
            FaultMessage::Dm2
        };
        batch.push(TelemetryItem::Dm {
            vehicle: VehicleRef::Id(vehicle),
            message,
            source_address: dm.source,
            observed_at: at,
            decoded: dm.message,
        });
        if batch.len() >= batch_size {
            flush(store, tenant.id, &mut batch, max_daily_km, &mut tally).await?;
            bar.set_position(read_bytes);
            bar.set_message(format!("{} messages", tally.dm1 + tally.dm2));
        }
    }
    flush(store, tenant.id, &mut batch, max_daily_km, &mut tally).await?;
    bar.finish_and_clear();
    println!(
        "Read {} lines: {} DM1 and {} DM2 messages, {} other frames, {} malformed lines",
        tally.lines, tally.dm1, tally.dm2, tally.other_frames, tally.bad_lines
    );
    println!(
        "Messages: {} new, {} already ingested, {} with no codes applied, {} refused",
        tally.created, tally.duplicate, tally.applied, tally.rejected
    );
    if tally.bad_lines > SHOWN_ERRORS as u64 {
        println!(
            "({} more malformed lines not shown)",
            tally.bad_lines - SHOWN_ERRORS as u64
        );
    }
    Ok(())
}
