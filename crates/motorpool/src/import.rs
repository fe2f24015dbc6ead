//! `motorpool import`: bring a Fuelly, Fuelio or LubeLogger export into a vehicle.

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use domain::fuel::FuelUnit;
use domain::import::{DateOrder, GenericKind, Options, parse, parse_generic, parse_mapping};
use domain::money::exponent;
use domain::preferences::CurrencyCode;
use domain::vehicle::OdometerUnit;
use indicatif::{ProgressBar, ProgressStyle};
use store::{AuditContext, ImportSettings, StoreError, VehicleFilter};

use crate::config::Common;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The exported CSV file.
    pub file: PathBuf,
    /// The tenant's slug.
    #[arg(long)]
    pub tenant: String,
    /// The vehicle to import into: its id, exact name, unit number or VIN (CSV files).
    #[arg(long)]
    pub vehicle: Option<String>,
    /// Report what would be imported, with every row error; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import the valid rows even if others have errors.
    #[arg(long)]
    pub valid_only: bool,
    /// `mi` or `km`, for files that do not name their units (LubeLogger).
    #[arg(long)]
    pub distance_unit: Option<String>,
    /// `us_gal`, `uk_gal` or `l`, for files that do not name their units.
    #[arg(long)]
    pub volume_unit: Option<String>,
    /// `.` or `,`, for locale-formatted numbers (LubeLogger).
    #[arg(long)]
    pub decimal_separator: Option<char>,
    /// `ymd`, `mdy` or `dmy`, for dates that are not ISO.
    #[arg(long)]
    pub date_order: Option<String>,
    /// Currency of the file's amounts.
    #[arg(long, default_value = "USD")]
    pub currency: String,
    /// For files holding several vehicles (Fuelly): the one to import.
    #[arg(long)]
    pub source_vehicle: Option<String>,
    /// Read any CSV with --kind and --columns instead of detecting the format.
    #[arg(long, requires_all = ["kind", "columns"])]
    pub generic: bool,
    /// For --generic: fuel, service or odometer.
    #[arg(long)]
    pub kind: Option<String>,
    /// For --generic: our fields to the file's columns, e.g. `date:Fecha,odometer:Km,quantity:Litros,total:Importe`.
    #[arg(long)]
    pub columns: Option<String>,
}

pub async fn run(common: &Common, args: ImportArgs) -> anyhow::Result<()> {
    let store = crate::serve::connect_for_command(&common.database_url).await?;
    if store.kind() == store::BackendKind::Sqlite {
        store.migrate().await?;
    }
    store.check_schema().await?;
    let result = import(&store, args).await;
    store.close().await;
    result
}

async fn import(store: &store::Store, args: ImportArgs) -> anyhow::Result<()> {
    let tenant = store
        .tenant_by_slug(&args.tenant)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => anyhow!("no tenant has the slug `{}`", args.tenant),
            other => other.into(),
        })?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    if text.trim_start().starts_with('{') {
        // A Motorpool export: everything it holds, into this tenant.
        let export: store::Export = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a Motorpool export", args.file.display()))?;
        if args.dry_run {
            bail!("--dry-run is for CSV files; a Motorpool export is applied whole or not at all");
        }
        let r = store
            .import_export(tenant.id, &export, &AuditContext::system("cli import"))
            .await?;
        println!(
            "Imported {} vehicles ({} already there), {} items ({} already there)",
            r.vehicles_created, r.vehicles_existing, r.items_created, r.items_existing
        );
        return Ok(());
    }
    let wanted = args
        .vehicle
        .as_deref()
        .ok_or_else(|| anyhow!("--vehicle is required for CSV files"))?;
    let vehicle = find_vehicle(store, tenant.id, wanted).await?;
    let currency =
        CurrencyCode::parse(&args.currency).map_err(|m| anyhow!("invalid --currency: {m}"))?;
    let options = Options {
        distance_unit: args
            .distance_unit
            .as_deref()
            .map(str::parse::<OdometerUnit>)
            .transpose()
            .map_err(|m| anyhow!("invalid --distance-unit: {m}"))?,
        volume_unit: args
            .volume_unit
            .as_deref()
            .map(str::parse::<FuelUnit>)
            .transpose()
            .map_err(|m| anyhow!("invalid --volume-unit: {m}"))?,
        decimal_separator: match args.decimal_separator {
            None | Some('.') | Some(',') => args.decimal_separator,
            Some(c) => bail!("invalid --decimal-separator `{c}`: use . or ,"),
        },
        date_order: args
            .date_order
            .as_deref()
            .map(str::parse::<DateOrder>)
            .transpose()
            .map_err(|m| anyhow!("invalid --date-order: {m}"))?,
        currency_exponent: exponent(&currency),
    };
    let parsed = if args.generic {
        let kind = args
            .kind
            .as_deref()
            .unwrap_or_default()
            .parse::<GenericKind>()
            .map_err(|m| anyhow!("invalid --kind: {m}"))?;
        let mapping = parse_mapping(args.columns.as_deref().unwrap_or_default())
            .map_err(|m| anyhow!("invalid --columns: {m}"))?;
        parse_generic(&text, kind, &mapping, &options)
    } else {
        parse(&text, &options)
    }
    .map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    let settings = ImportSettings {
        vehicle,
        source_vehicle: args.source_vehicle,
        currency,
        dry_run: args.dry_run,
        valid_only: args.valid_only,
        max_daily_km: tenant.max_daily_km(),
    };
    let bar = ProgressBar::new(parsed.rows.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({eta} left)") {
        bar.set_style(style);
    }
    let report = store
        .import(
            tenant.id,
            &parsed,
            &settings,
            &AuditContext::system("cli import"),
            &mut |n| bar.set_position(n as u64),
        )
        .await?;
    bar.finish_and_clear();

    println!("Format: {} ({} rows)", report.format, report.rows);
    println!(
        "{} {} fuel entries, {} services, {} odometer readings, {} expenses; {} duplicates skipped",
        if args.dry_run || (!report.committed && !report.errors.is_empty()) {
            "Would import"
        } else {
            "Imported"
        },
        report.fuel,
        report.services,
        report.odometer,
        report.expenses,
        report.duplicates
    );
    for e in &report.errors {
        println!("  line {}: {}: {}", e.line, e.field, e.message);
    }
    if !report.committed && !args.dry_run && !report.errors.is_empty() {
        bail!(
            "{} rows have errors, so nothing was imported; fix them or pass --valid-only",
            report.errors.len()
        );
    }
    if args.dry_run {
        println!("Dry run: nothing was written.");
    }
    Ok(())
}

/// Finds a vehicle by id, exact name, unit number or VIN.
pub(crate) async fn find_vehicle(
    store: &store::Store,
    tenant: domain::ids::TenantId,
    wanted: &str,
) -> anyhow::Result<domain::ids::VehicleId> {
    if let Ok(id) = wanted.parse()
        && store.vehicle(tenant, id).await.is_ok()
    {
        return Ok(id);
    }
    let page = store
        .list_vehicles(
            tenant,
            &VehicleFilter {
                q: Some(wanted.to_string()),
                limit: 500,
                ..Default::default()
            },
        )
        .await?;
    let matches: Vec<_> = page
        .items
        .iter()
        .filter(|v| {
            v.spec.name.eq_ignore_ascii_case(wanted)
                || v.spec
                    .unit_number
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(wanted))
                || v.spec
                    .vin
                    .as_ref()
                    .is_some_and(|vin| vin.as_str().eq_ignore_ascii_case(wanted))
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.id),
        [] => bail!("no vehicle matches `{wanted}` (use its id, exact name, unit number or VIN)"),
        _ => bail!("several vehicles match `{wanted}`; use the vehicle's id"),
    }
}
