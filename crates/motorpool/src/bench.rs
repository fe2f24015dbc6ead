//! `motorpool bench generate`: a deterministic (seeded) synthetic fleet,
//! written through Motorpool's own paths — the import path for fuel and
//! service history, the telemetry path for daily meter readings and DM1
//! fault episodes, schedule templates for maintenance — so what is measured
//! afterwards is what production would hold. Memory stays bounded: one
//! vehicle's history and one telemetry batch at a time (in `--order time`,
//! also each vehicle's daily odometer until the feed is sent; see
//! [`FeedOrder`]).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use domain::ids::{TenantId, VehicleId};
use domain::maintenance::{Baseline, Interval};
use domain::preferences::CurrencyCode;
use domain::tenancy::{Slug, TenantKind};
use domain::vehicle::{
    FuelType, OdometerUnit, VehicleDraft, VehicleSpec, VehicleStatus, VehicleType,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use store::{AuditContext, NewSchedule, Store};
use time::{Duration, OffsetDateTime};

use crate::bench_feed::{
    EpisodesByDay, FeedOrder, FeedVehicle, Telemetry, fault_episode, push_readings, reading_minutes,
};
use crate::bench_history::{
    IMPORT_EVERY_DAYS, final_meters, import_through, records, start_meters,
};
use crate::config::Common;
use crate::demo_history::Rng;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Create a synthetic fleet (tenants, vehicles, history, faults, schedules).
    Generate(GenerateArgs),
    /// Time the full maintenance-due re-evaluation (every schedule of every tenant).
    Reevaluate(crate::bench_reevaluate::ReevaluateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many vehicles.
    #[arg(long, default_value_t = 10_000)]
    pub vehicles: u64,
    /// Days of history per vehicle.
    #[arg(long, default_value_t = 365)]
    pub days: i64,
    /// Vehicles per tenant.
    #[arg(long, default_value_t = 1000)]
    pub per_tenant: u64,
    /// The generator's seed: the same seed makes the same fleet.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Tenant slugs are `<prefix>-1`, `<prefix>-2`, …
    #[arg(long, default_value = "bench")]
    pub prefix: String,
    /// Where the run's JSON summary goes.
    #[arg(long, default_value = "target/bench")]
    pub out_dir: PathBuf,
    /// Telemetry odometer (and engine-hour) readings per vehicle per day,
    /// evenly spaced: 1 is a daily noon reading; 288 is every 5 minutes.
    #[arg(long, default_value_t = 1)]
    pub readings_per_day: u32,
    /// Telemetry items per ingest transaction: the telematics job's 2,000
    /// by default; the API takes up to 10,000 a request.
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// The order telemetry is sent in: `vehicle` (each vehicle's whole
    /// history in turn, a backfill) or `time` (every vehicle's readings of
    /// one time together, a live feed).
    #[arg(long, value_enum, default_value_t = FeedOrder::Vehicle)]
    pub order: FeedOrder,
    /// What a live feed's schedules count from (`--order time` only):
    /// `end` or `start` ([`SchedulesFrom`]).
    #[arg(long, value_enum, default_value_t = SchedulesFrom::End)]
    pub schedules_from: SchedulesFrom,
}

/// The meters a live feed's schedules count from. Evaluation is dated
/// today (the wall clock's, not the replayed day), so both baselines are
/// dated today: the calendar moves no schedule during the replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SchedulesFrom {
    /// The meters the history ends with, as the vehicle order's schedules:
    /// no schedule reaches a due-soon window during the replay, so the
    /// feed measures ingest with every due state at rest.
    #[default]
    End,
    /// The meters the history starts with: each of a vehicle's ten
    /// schedules (every 10,000 to 100,000 km, due soon 1,000 km before)
    /// goes due soon and then overdue as the replay drives past it, so
    /// the feed also measures the due-soon states that readings move.
    Start,
}

/// What a run generated, and how fast (written as JSON).
#[derive(Debug, Default, Serialize)]
struct Summary {
    seed: u64,
    tenants: u64,
    vehicles: u64,
    days: i64,
    fuel_entries: usize,
    service_records: usize,
    readings: u64,
    fault_messages: u64,
    schedules: u64,
    import_seconds: f64,
    telemetry_seconds: f64,
    schedule_seconds: f64,
    total_seconds: f64,
    /// Telemetry items (readings and DM1 messages) ingested per second.
    telemetry_items_per_second: f64,
    backend: String,
    /// `--order`: `vehicle` (a backfill) or `time` (a live feed).
    order: String,
    /// Telemetry items per ingest transaction (`--batch`).
    batch: usize,
}

pub async fn run(common: &Common, command: BenchCommand) -> anyhow::Result<()> {
    let args = match command {
        BenchCommand::Generate(args) => args,
        BenchCommand::Reevaluate(args) => return crate::bench_reevaluate::run(common, &args).await,
    };
    if args.vehicles == 0 || args.days < 2 || args.per_tenant == 0 {
        bail!("--vehicles and --per-tenant must be at least 1, --days at least 2");
    }
    if !(1..=1440).contains(&args.readings_per_day) {
        bail!("--readings-per-day must be 1 to 1440");
    }
    if !(1..=10_000).contains(&args.batch) {
        bail!("--batch must be 1 to 10000 (the API's most items a request)");
    }
    if args.schedules_from == SchedulesFrom::Start && args.order != FeedOrder::Time {
        bail!(
            "--schedules-from start needs --order time (a backfill applies its schedules after the history)"
        );
    }
    let store = crate::serve::connect_for_command(&common.database_url).await?;
    if store.kind() == store::BackendKind::Sqlite {
        store.migrate().await?;
    }
    store.check_schema().await?;
    let result = generate(&store, &args).await;
    store.close().await;
    let summary = result?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let path = args.out_dir.join(format!(
        "generate-{}-{}.json",
        summary.backend,
        OffsetDateTime::now_utc().unix_timestamp()
    ));
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "Generated {} tenants, {} vehicles, {} fuel entries, {} service records, {} readings, {} DM1 messages, {} schedules in {:.1} s",
        summary.tenants,
        summary.vehicles,
        summary.fuel_entries,
        summary.service_records,
        summary.readings,
        summary.fault_messages,
        summary.schedules,
        summary.total_seconds
    );
    println!(
        "Telemetry: {:.0} items/s; summary in {}",
        summary.telemetry_items_per_second,
        path.display()
    );
    Ok(())
}

/// The ten recurring schedules every vehicle gets, counting from
/// `last_done` (the vehicle's meters today when `None`).
fn schedule_plans(
    tasks: &[store::ServiceTask],
    last_done: Option<Baseline>,
) -> impl Iterator<Item = NewSchedule> + '_ {
    tasks
        .iter()
        .take(10)
        .enumerate()
        .map(move |(i, task)| NewSchedule {
            task_id: task.id,
            one_off: false,
            interval: Interval {
                km: Some(10_000.0 * (i + 1) as f64),
                hours: None,
                days: Some(90 * (i as i64 % 4 + 1)),
            },
            window: Interval {
                km: Some(1_000.0),
                hours: None,
                days: Some(14),
            },
            last_done,
        })
}

/// The ten schedules applied to the whole tenant at once, each counting
/// from the vehicle's meters now; returns the time it took.
async fn apply_schedules(
    store: &Store,
    tenant: TenantId,
    vehicles: &[VehicleId],
    summary: &mut Summary,
) -> anyhow::Result<std::time::Duration> {
    let started = Instant::now();
    let ctx = AuditContext::system("bench generate");
    let tasks = store.list_service_tasks(tenant).await?;
    for plan in schedule_plans(&tasks, None) {
        for chunk in vehicles.chunks(1000) {
            summary.schedules += store
                .apply_schedule(tenant, chunk, &plan, &ctx)
                .await?
                .len() as u64;
        }
    }
    Ok(started.elapsed())
}

/// The ten schedules applied vehicle by vehicle, each counting from the
/// given baseline; returns the time it took.
async fn apply_schedules_from(
    store: &Store,
    tenant: TenantId,
    baselines: &[(VehicleId, Baseline)],
    summary: &mut Summary,
) -> anyhow::Result<std::time::Duration> {
    let started = Instant::now();
    let ctx = AuditContext::system("bench generate");
    let tasks = store.list_service_tasks(tenant).await?;
    for (vehicle, baseline) in baselines {
        for plan in schedule_plans(&tasks, Some(*baseline)) {
            summary.schedules += store
                .apply_schedule(tenant, &[*vehicle], &plan, &ctx)
                .await?
                .len() as u64;
        }
    }
    Ok(started.elapsed())
}

fn vehicle_spec(n: u64, rng: &mut Rng) -> anyhow::Result<VehicleSpec> {
    let roll = rng.next();
    let (kind, fuel) = if roll < 0.6 {
        (VehicleType::HeavyTruck, FuelType::Diesel)
    } else if roll < 0.85 {
        (VehicleType::Van, FuelType::Diesel)
    } else {
        (VehicleType::Car, FuelType::Gasoline)
    };
    VehicleSpec::validate(
        VehicleDraft {
            name: format!("Unit {n:05}"),
            unit_number: Some(format!("U{n:05}")),
            vin: None,
            plate: None,
            year: Some(2015 + (n % 10) as i32),
            make: Some(["Volvo", "Freightliner", "Ford", "Mercedes-Benz"][(n % 4) as usize].into()),
            model: None,
            trim: None,
            vehicle_type: kind,
            fuel_types: vec![fuel],
            odometer_unit: OdometerUnit::Kilometres,
            in_service_date: None,
            status: VehicleStatus::Active,
            tags: vec![],
            custom_fields: Default::default(),
        },
        2026,
    )
    .map_err(|e| anyhow::anyhow!("bench vehicle spec: {e:?}"))
}

/// km a day and litres per 100 km for a kind of vehicle.
fn usage(kind: VehicleType) -> (f64, f64) {
    match kind {
        VehicleType::HeavyTruck => (380.0, 33.0),
        VehicleType::Van => (110.0, 11.5),
        _ => (45.0, 7.0),
    }
}

async fn generate(store: &Store, args: &GenerateArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let ctx = AuditContext::system("bench generate");
    let mut summary = Summary {
        seed: args.seed,
        days: args.days,
        backend: store.kind().as_str().to_string(),
        // The name `--order` takes, as clap spells it.
        order: clap::ValueEnum::to_possible_value(&args.order)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default(),
        batch: args.batch,
        ..Summary::default()
    };
    let bar = ProgressBar::new(args.vehicles);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} vehicles ({eta} left)") {
        bar.set_style(style);
    }
    let today = OffsetDateTime::now_utc().date();
    let first_day = today - Duration::days(args.days);
    let usd = CurrencyCode::parse("USD").map_err(anyhow::Error::msg)?;
    let mut import_time = std::time::Duration::ZERO;
    let mut schedule_time = std::time::Duration::ZERO;
    let mut telemetry_time = std::time::Duration::ZERO;
    let minutes = reading_minutes(args.readings_per_day);
    let tenants = args.vehicles.div_ceil(args.per_tenant);
    for t in 0..tenants {
        let slug = format!("{}-{}", args.prefix, t + 1);
        if store.tenant_by_slug(&slug).await.is_ok() {
            bail!(
                "tenant `{slug}` exists already: generate into a fresh database or pass another --prefix"
            );
        }
        let tenant = store
            .create_tenant(
                &Slug::parse(&slug).map_err(|e| anyhow::anyhow!("--prefix: {e}"))?,
                &format!("Bench fleet {}", t + 1),
                TenantKind::Fleet,
                &ctx,
            )
            .await?;
        summary.tenants += 1;
        let mut telemetry = Telemetry {
            store,
            tenant: tenant.id,
            batch: Vec::with_capacity(args.batch),
            batch_size: args.batch,
            readings: 0,
            messages: 0,
            spent: std::time::Duration::ZERO,
        };
        let mut vehicle_ids: Vec<VehicleId> = Vec::new();
        let mut feed: Vec<FeedVehicle> = Vec::new();
        let mut episodes = EpisodesByDay::new();
        let first = t * args.per_tenant;
        let last = (first + args.per_tenant).min(args.vehicles);
        for n in first..last {
            let mut rng = Rng::seeded(args.seed, n);
            let spec = vehicle_spec(n + 1, &mut rng)?;
            let (daily_km, per_100km) = usage(spec.vehicle_type);
            let vehicle = store.create_vehicle(tenant.id, &spec, &ctx).await?;
            vehicle_ids.push(vehicle.id);
            summary.vehicles += 1;

            // The odometer at the end of each day: the one truth every record follows.
            let mut km = Vec::with_capacity(args.days as usize + 1);
            let mut total = 50_000.0 + 1_000.0 * (n % 500) as f64;
            km.push(total);
            for _ in 0..args.days {
                total += daily_km * rng.around(0.35);
                km.push(total);
            }

            // History through the import path: fills every few days, oil
            // changes; now (vehicle order) or behind the feed (time order).
            let mut records = records(n, &km, first_day, (daily_km, per_100km), &mut rng);
            if args.order == FeedOrder::Vehicle {
                let import_started = Instant::now();
                let imported =
                    import_through(store, tenant.id, vehicle.id, &mut records, usize::MAX, &usd)
                        .await?;
                import_time += import_started.elapsed();
                summary.fuel_entries += imported.fuel;
                summary.service_records += imported.services;
            }

            // Telemetry: the vehicle's readings now (vehicle order), or
            // kept for the feed after the last vehicle (time order).
            let vehicle = FeedVehicle {
                id: vehicle.id,
                truck: spec.vehicle_type == VehicleType::HeavyTruck,
                km,
                records,
            };
            let episode = fault_episode(&mut rng, vehicle.id, args.days, first_day);
            match args.order {
                FeedOrder::Vehicle => {
                    for d in 1..=args.days as usize {
                        for &m in &minutes {
                            push_readings(&mut telemetry, &vehicle, first_day, d, m).await?;
                        }
                    }
                    for item in episode.into_iter().flat_map(|(_, items)| items) {
                        telemetry.push(item).await?;
                    }
                }
                FeedOrder::Time => {
                    if let Some((day, items)) = episode {
                        episodes.entry(day).or_default().extend(items);
                    }
                    feed.push(vehicle);
                }
            }
            bar.inc(1);
        }
        if args.order == FeedOrder::Time {
            // A live feed arrives with the fleet's schedules in place: each
            // batch re-evaluates the due states of the vehicles it moves.
            // By default they count from the meters the history ends with,
            // as the schedules vehicle order applies after it do.
            let baselines: Vec<(VehicleId, Baseline)> = feed
                .iter()
                .map(|v| {
                    let baseline = match args.schedules_from {
                        SchedulesFrom::End => {
                            final_meters(v, &v.records, &minutes, first_day, today)
                        }
                        SchedulesFrom::Start => start_meters(v, today),
                    };
                    (v.id, baseline)
                })
                .collect();
            schedule_time +=
                apply_schedules_from(store, tenant.id, &baselines, &mut summary).await?;
            // Each reading time of each day, every vehicle's readings of it
            // together; a day's fault episodes first; each month's records
            // once its readings are in.
            for d in 1..=args.days as usize {
                for item in episodes.remove(&(d as i64)).unwrap_or_default() {
                    telemetry.push(item).await?;
                }
                for &m in &minutes {
                    for vehicle in &feed {
                        push_readings(&mut telemetry, vehicle, first_day, d, m).await?;
                    }
                }
                if d % IMPORT_EVERY_DAYS == 0 || d == args.days as usize {
                    telemetry.flush().await?;
                    let import_started = Instant::now();
                    for vehicle in &mut feed {
                        let imported = import_through(
                            store,
                            tenant.id,
                            vehicle.id,
                            &mut vehicle.records,
                            d,
                            &usd,
                        )
                        .await?;
                        summary.fuel_entries += imported.fuel;
                        summary.service_records += imported.services;
                    }
                    import_time += import_started.elapsed();
                }
            }
        }
        telemetry.flush().await?;
        summary.readings += telemetry.readings;
        summary.fault_messages += telemetry.messages;
        telemetry_time += telemetry.spent;
        if args.order == FeedOrder::Vehicle {
            schedule_time += apply_schedules(store, tenant.id, &vehicle_ids, &mut summary).await?;
        }
    }
    bar.finish_and_clear();
    summary.import_seconds = import_time.as_secs_f64();
    summary.telemetry_seconds = telemetry_time.as_secs_f64();
    summary.schedule_seconds = schedule_time.as_secs_f64();
    summary.total_seconds = started.elapsed().as_secs_f64();
    let items = (summary.readings + summary.fault_messages) as f64;
    summary.telemetry_items_per_second = if summary.telemetry_seconds > 0.0 {
        (items / summary.telemetry_seconds).round()
    } else {
        0.0
    };
    Ok(summary)
}
