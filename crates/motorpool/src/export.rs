//! `motorpool export`: everything recorded about a tenant's vehicles, as JSON.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::Args;
use store::StoreError;

use crate::config::Common;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The tenant's slug.
    #[arg(long)]
    pub tenant: String,
    /// Only this vehicle (its id).
    #[arg(long)]
    pub vehicle: Option<String>,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub async fn run(common: &Common, args: ExportArgs) -> anyhow::Result<()> {
    let store = crate::serve::connect_for_command(&common.database_url).await?;
    store.check_schema().await?;
    let tenant = store
        .tenant_by_slug(&args.tenant)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => anyhow!("no tenant has the slug `{}`", args.tenant),
            other => other.into(),
        })?;
    let vehicles = match &args.vehicle {
        Some(v) => {
            Some(vec![v.parse().map_err(|_| {
                anyhow!("invalid --vehicle: use the vehicle's id")
            })?])
        }
        None => None,
    };
    let export = store.export(tenant.id, vehicles.as_deref()).await?;
    store.close().await;
    let json = serde_json::to_vec_pretty(&export)?;
    match &args.output {
        Some(path) => {
            // Write beside, then rename: a crash never leaves half an export under the real name.
            let temp = path.with_extension("partial");
            std::fs::write(&temp, &json)
                .with_context(|| format!("cannot write {}", temp.display()))?;
            std::fs::rename(&temp, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "Exported {} vehicles to {}",
                export.vehicles.len(),
                path.display()
            );
        }
        None => std::io::stdout().write_all(&json)?,
    }
    Ok(())
}
