//! `motorpool serve` and `motorpool migrate`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use store::{BackendKind, ConnectOptions, Store};
use tokio::sync::watch;
use web::{AppServices, AppState, Application, Metrics, MetricsSource, WebSettings};

use crate::config::{Common, DatabaseUrl, ServeSettings, load_keyring};

/// How often the housekeeping job runs.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(15 * 60);
/// How often maintenance due states are refreshed against the calendar.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Exposes the job runner's counters on `/metrics`.
struct JobMetrics(Arc<jobs::JobStats>);

impl MetricsSource for JobMetrics {
    fn render(&self, out: &mut String) {
        self.0.render_prometheus(out);
    }
}

/// Opens the database the server will use, migrating it where it may:
/// SQLite always; PostgreSQL when an owner URL is configured. Then checks the
/// schema is exactly current and that the role cannot bypass row-level security.
async fn open_store(common: &Common, settings: &ServeSettings) -> anyhow::Result<Store> {
    let options = ConnectOptions {
        max_connections: settings.max_connections,
        ..Default::default()
    };
    let store = Store::connect(common.database_url.expose(), &options)
        .await
        .with_context(|| format!("opening {}", common.database_url))?
        .with_credential_cache(std::time::Duration::from_secs(
            settings.credential_cache_secs,
        ))
        .with_overview_cache(std::time::Duration::from_secs(settings.overview_cache_secs));
    match store.kind() {
        BackendKind::Sqlite => {
            let report = store
                .migrate()
                .await
                .context("migrating the SQLite database")?;
            if !report.applied.is_empty() {
                tracing::info!(applied = ?report.applied, "migrated the database");
            }
        }
        BackendKind::Postgres => {
            if let Some(owner_url) = &settings.migrate_database_url {
                let owner = connect_for_command(owner_url).await?;
                owner
                    .migrate()
                    .await
                    .context("migrating the PostgreSQL database")?;
                let app_role = store.current_role().await?;
                owner
                    .grant_app_role(&app_role, None)
                    .await
                    .context("granting the app role")?;
                owner.close().await;
            }
            if let Some(p) = store.role_privileges().await? {
                if (p.superuser || p.bypass_rls || p.owns_tables)
                    && !settings.allow_privileged_database_role
                {
                    bail!(
                        "the database role can bypass row-level security (superuser: {}, bypassrls: {}, owns tables: {}). \
                         Connect as an app role created by `motorpool migrate --app-role motorpool_app` \
                         (see docs/POSTGRES.md), or set allow_privileged_database_role for development",
                        p.superuser,
                        p.bypass_rls,
                        p.owns_tables
                    );
                }
                if p.superuser || p.bypass_rls || p.owns_tables {
                    tracing::warn!(
                        "running as a privileged database role: row-level security is not enforced"
                    );
                }
            }
        }
    }
    store
        .check_schema()
        .await
        .context("checking the database schema")?;
    Ok(store)
}

pub async fn serve(common: &Common, settings: &ServeSettings, demo: bool) -> anyhow::Result<()> {
    tracing::debug!(?settings, "settings");
    let keyring = Arc::new(load_keyring(settings)?);
    let store = open_store(common, settings).await?;

    let files = store::FileStore::open(&settings.documents_dir).with_context(|| {
        format!(
            "cannot use documents_dir {}",
            settings.documents_dir.display()
        )
    })?;
    if demo {
        crate::demo::seed(&store, &files, &settings.base_url)
            .await
            .context("creating the demo data")?;
    } else if store.count_users().await? == 0 {
        println!(
            "\nNo user exists yet. Create the first administrator (a password is generated and shown once):\n\n    \
             motorpool admin create-user --email you@example.com --name \"Your Name\" --admin --tenant my-fleet --role owner\n\n\
             or start with sample data: motorpool serve --demo\n"
        );
    }

    let runner = jobs::Runner::new(store.clone())
        .handle(jobs::housekeeping::KIND, jobs::housekeeping::run)
        .every(jobs::housekeeping::KIND, HOUSEKEEPING_EVERY)
        .handle(jobs::maintenance::KIND, jobs::maintenance::run)
        .every(jobs::maintenance::KIND, MAINTENANCE_EVERY)
        .handle(jobs::telematics::SCHEDULE_KIND, |store, _| {
            jobs::telematics::schedule(store)
        })
        .every(jobs::telematics::SCHEDULE_KIND, Duration::from_secs(60))
        .handle(jobs::telematics::SYNC_KIND, {
            let sync = jobs::telematics::SyncContext::new(keyring.clone());
            move |store, payload| jobs::telematics::run(store, sync.clone(), payload)
        });
    let metrics = Metrics::with_sources(vec![Arc::new(JobMetrics(runner.stats()))]);
    let (stop_tx, stop_rx) = watch::channel(false);
    let runner_task = tokio::spawn(runner.run(stop_rx));

    let web_settings = WebSettings {
        base_url: settings.base_url.clone(),
        session_lifetime_secs: settings.session_hours * 3600,
        max_body_bytes: settings.max_body_bytes,
        max_upload_bytes: settings.max_upload_bytes,
        trust_forwarded_for: settings.trust_forwarded_for,
        ..WebSettings::default()
    };
    let state = AppState::new(AppServices {
        store: store.clone(),
        files,
        settings: Arc::new(web_settings),
        metrics: Arc::new(metrics),
        keyring,
    });
    let app = Application::build(settings.listen, state)
        .await
        .with_context(|| format!("cannot listen on {} (setting `listen`)", settings.listen))?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, database = %common.database_url, "Motorpool is listening");
    println!(
        "Motorpool is listening on http://{addr} (API reference: http://{addr}/api/openapi.json)"
    );
    app.run_until(shutdown_signal()).await?;

    tracing::info!("stopping: requests in flight have finished; stopping the job runner");
    let _ = stop_tx.send(true);
    let _ = runner_task.await;
    store.close().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// Opens a small pool for a one-shot command (migrate, admin).
pub async fn connect_for_command(url: &DatabaseUrl) -> anyhow::Result<Store> {
    let options = ConnectOptions {
        max_connections: 2,
        ..Default::default()
    };
    Store::connect(url.expose(), &options)
        .await
        .with_context(|| format!("opening {url}"))
}

pub async fn migrate(
    common: &Common,
    app_role: Option<&str>,
    app_password_env: Option<&str>,
) -> anyhow::Result<()> {
    let store = crate::serve::connect_for_command(&common.database_url).await?;
    let report = store.migrate().await.context("migrating")?;
    if report.applied.is_empty() {
        println!(
            "The database schema is current (version {}).",
            report.version
        );
    } else {
        println!(
            "Applied migrations {:?}; the schema is at version {}.",
            report.applied, report.version
        );
    }
    if let Some(role) = app_role {
        let password = match app_password_env {
            Some(var) => Some(
                std::env::var(var)
                    .with_context(|| format!("environment variable {var} is not set"))?,
            ),
            None => None,
        };
        store
            .grant_app_role(role, password.as_deref())
            .await
            .context("setting up the app role")?;
        println!(
            "Role `{role}` can use the database (data access only; row-level security applies to it)."
        );
    }
    store.close().await;
    Ok(())
}
