//! `motorpool admin …`: instance administration from the command line.
//! Every change is audited with the actor `cli`.

use std::io::BufRead;
use std::str::FromStr;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use domain::credentials::{Password, SecretToken, TokenKind, hash_password};
use domain::tenancy::{Email, Role, Slug, TenantKind, parse_display_text};
use store::{AuditContext, NewApiToken, NewUser, Store, StoreError, Tenant};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant.
    CreateTenant {
        /// Short URL-safe name, e.g. `acme-trucking`.
        #[arg(long)]
        slug: String,
        /// Display name [default: the slug]
        #[arg(long)]
        name: Option<String>,
        /// personal, fleet or dealer.
        #[arg(long, default_value = "fleet")]
        kind: String,
    },
    /// Create a user. A password is generated and printed once, unless --password-stdin.
    CreateUser {
        #[arg(long)]
        email: String,
        /// Display name [default: the e-mail]
        #[arg(long)]
        name: Option<String>,
        /// Make them an instance administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Also add them to this tenant (created as a fleet if it does not exist).
        #[arg(long)]
        tenant: Option<String>,
        /// Their role in --tenant.
        #[arg(long, default_value = "owner", requires = "tenant")]
        role: String,
    },
    /// Add a user to a tenant, or change their role there.
    AddMember {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Set a new password (generated and printed once, unless --password-stdin); ends the user's sessions.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API token acting for a member of a tenant; the secret is printed once.
    CreateToken {
        #[arg(long)]
        tenant: String,
        /// The member the token acts for.
        #[arg(long)]
        email: String,
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// The most the token may do.
        #[arg(long, default_value = "viewer")]
        role_ceiling: String,
        /// Days until it expires; never if absent.
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// List tenants.
    ListTenants,
    /// Report document files no document uses (left by deletions); with --delete, remove them.
    /// Files younger than an hour are left alone (an upload may be in flight).
    PurgeFiles {
        /// The documents folder the server uses.
        #[arg(
            long,
            env = "MOTORPOOL_DOCUMENTS_DIR",
            default_value = "data/documents"
        )]
        documents_dir: std::path::PathBuf,
        /// Remove them (default: only report).
        #[arg(long)]
        delete: bool,
    },
    /// Delete a tenant (soft: it disappears and its sessions end; data is kept).
    DeleteTenant {
        #[arg(long)]
        slug: String,
        /// Confirm.
        #[arg(long)]
        yes: bool,
    },
    /// Rebuild the monthly distance and spend rollups from the raw records
    /// (the write paths keep them current; this repairs and measures).
    RebuildRollups {
        /// Only this tenant [default: every tenant, one transaction each].
        #[arg(long)]
        tenant: Option<String>,
    },
}

fn ctx() -> AuditContext {
    AuditContext::system("cli")
}

fn read_password(from_stdin: bool) -> anyhow::Result<(Password, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let text = line.trim_end_matches(['\r', '\n']).to_string();
        let password = Password::new(text).map_err(|m| anyhow!("invalid password: {m}"))?;
        Ok((password, false))
    } else {
        Ok((Password::generate()?, true))
    }
}

async fn tenant_by_slug(store: &Store, slug: &str) -> anyhow::Result<Tenant> {
    store.tenant_by_slug(slug).await.map_err(|e| match e {
        StoreError::NotFound => anyhow!("no tenant has the slug `{slug}`"),
        other => other.into(),
    })
}

async fn user_by_email(store: &Store, email: &str) -> anyhow::Result<store::User> {
    let email = Email::parse(email).map_err(|m| anyhow!("invalid --email: {m}"))?;
    store.user_by_email(&email).await.map_err(|e| match e {
        StoreError::NotFound => anyhow!("no user has the e-mail {email}"),
        other => other.into(),
    })
}

/// Runs an admin command against the configured database (migrated first on SQLite).
pub async fn run(common: &crate::config::Common, command: AdminCommand) -> anyhow::Result<()> {
    let store = crate::serve::connect_for_command(&common.database_url).await?;
    if store.kind() == store::BackendKind::Sqlite {
        store.migrate().await?;
    }
    store.check_schema().await?;
    let result = execute(&store, command).await;
    store.close().await;
    result
}

async fn execute(store: &Store, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateTenant { slug, name, kind } => {
            let slug = Slug::parse(&slug).map_err(|m| anyhow!("invalid --slug: {m}"))?;
            let kind = TenantKind::from_str(&kind).map_err(|m| anyhow!("invalid --kind: {m}"))?;
            let name = parse_display_text(name.as_deref().unwrap_or(slug.as_str()), 100)
                .map_err(|m| anyhow!("invalid --name: {m}"))?;
            let tenant = store.create_tenant(&slug, &name, kind, &ctx()).await?;
            println!(
                "Created tenant `{}` ({}), id {}",
                tenant.slug,
                kind.as_str(),
                tenant.id
            );
        }
        AdminCommand::CreateUser {
            email,
            name,
            admin,
            password_stdin,
            tenant,
            role,
        } => {
            let email = Email::parse(&email).map_err(|m| anyhow!("invalid --email: {m}"))?;
            let name = parse_display_text(name.as_deref().unwrap_or(email.as_str()), 100)
                .map_err(|m| anyhow!("invalid --name: {m}"))?;
            let role = Role::from_str(&role).map_err(|m| anyhow!("invalid --role: {m}"))?;
            let slug = tenant
                .as_deref()
                .map(Slug::parse)
                .transpose()
                .map_err(|m| anyhow!("invalid --tenant: {m}"))?;
            let (password, generated) = read_password(password_stdin)?;
            let hash = tokio::task::spawn_blocking(move || {
                hash_password(&password).map(|h| (h, password))
            })
            .await??;
            let user = store
                .create_user(
                    &NewUser {
                        email,
                        display_name: name,
                        password_hash: Some(hash.0),
                        is_instance_admin: admin,
                    },
                    &ctx(),
                )
                .await?;
            println!(
                "Created user {} (id {}){}",
                user.email,
                user.id,
                if admin {
                    ", instance administrator"
                } else {
                    ""
                }
            );
            if let Some(slug) = slug {
                let tenant = match store.tenant_by_slug(slug.as_str()).await {
                    Ok(t) => t,
                    Err(StoreError::NotFound) => {
                        let t = store
                            .create_tenant(&slug, slug.as_str(), TenantKind::Fleet, &ctx())
                            .await?;
                        println!("Created tenant `{}`", t.slug);
                        t
                    }
                    Err(e) => return Err(e.into()),
                };
                store
                    .set_membership(tenant.id, user.id, role, &ctx())
                    .await?;
                println!("Added {} to `{}` as {role}", user.email, tenant.slug);
            }
            if generated {
                println!("Password (shown once): {}", hash.1.expose());
            }
        }
        AdminCommand::AddMember {
            tenant,
            email,
            role,
        } => {
            let tenant = tenant_by_slug(store, &tenant).await?;
            let user = user_by_email(store, &email).await?;
            let role = Role::from_str(&role).map_err(|m| anyhow!("invalid --role: {m}"))?;
            store
                .set_membership(tenant.id, user.id, role, &ctx())
                .await?;
            println!("{} is now {role} in `{}`", user.email, tenant.slug);
        }
        AdminCommand::ResetPassword {
            email,
            password_stdin,
        } => {
            let user = user_by_email(store, &email).await?;
            let (password, generated) = read_password(password_stdin)?;
            let hash = tokio::task::spawn_blocking(move || {
                hash_password(&password).map(|h| (h, password))
            })
            .await??;
            store.set_password(user.id, &hash.0, &ctx()).await?;
            println!(
                "Password of {} changed; their sessions have ended.",
                user.email
            );
            if generated {
                println!("New password (shown once): {}", hash.1.expose());
            }
        }
        AdminCommand::CreateToken {
            tenant,
            email,
            name,
            role_ceiling,
            expires_in_days,
        } => {
            let tenant = tenant_by_slug(store, &tenant).await?;
            let user = user_by_email(store, &email).await?;
            let name =
                parse_display_text(&name, 100).map_err(|m| anyhow!("invalid --name: {m}"))?;
            let ceiling = Role::from_str(&role_ceiling)
                .map_err(|m| anyhow!("invalid --role-ceiling: {m}"))?;
            if store.role_in(tenant.id, user.id).await?.is_none() {
                bail!(
                    "{} is not a member of `{}`: a token acts for a member",
                    user.email,
                    tenant.slug
                );
            }
            let expires_at = match expires_in_days {
                Some(d) if !(1..=3650).contains(&d) => {
                    bail!("invalid --expires-in-days: must be 1 to 3650")
                }
                Some(d) => Some(time::OffsetDateTime::now_utc().unix_timestamp() + d * 86_400),
                None => None,
            };
            let secret = SecretToken::generate(TokenKind::Api)?;
            let token = store
                .create_api_token(
                    tenant.id,
                    &NewApiToken {
                        name,
                        token_hash: secret.hash(),
                        user_id: user.id,
                        role_ceiling: ceiling,
                        expires_at,
                    },
                    &ctx(),
                )
                .await?;
            println!(
                "Created token `{}` (id {}) for {} in `{}`, role ceiling {ceiling}",
                token.name, token.id, user.email, tenant.slug
            );
            println!(
                "Secret (shown once; send as `Authorization: Bearer …`): {}",
                secret.expose()
            );
        }
        AdminCommand::PurgeFiles {
            documents_dir,
            delete,
        } => {
            let files = store::FileStore::open(&documents_dir)?;
            let referenced = store.referenced_files().await?;
            let orphans: Vec<String> = files
                .list(std::time::Duration::from_secs(3600))?
                .into_iter()
                .filter(|h| !referenced.contains(h))
                .collect();
            for hash in &orphans {
                if delete {
                    files.remove(hash).await?;
                }
                println!("{} {hash}", if delete { "removed" } else { "unreferenced" });
            }
            println!(
                "{} unreferenced file(s){}",
                orphans.len(),
                if delete || orphans.is_empty() {
                    ""
                } else {
                    "; run again with --delete to remove them"
                }
            );
        }
        AdminCommand::ListTenants => {
            for t in store.list_tenants().await? {
                println!("{}\t{}\t{}\t{}", t.slug, t.kind.as_str(), t.id, t.name);
            }
        }
        AdminCommand::DeleteTenant { slug, yes } => {
            let tenant = tenant_by_slug(store, &slug).await?;
            if !yes {
                bail!(
                    "deleting `{}` ends every session in it; add --yes to confirm",
                    tenant.slug
                );
            }
            store.delete_tenant(tenant.id, &ctx()).await?;
            println!("Deleted tenant `{}`", tenant.slug);
        }
        AdminCommand::RebuildRollups { tenant } => {
            let tenants = match tenant {
                Some(slug) => vec![tenant_by_slug(store, &slug).await?],
                None => store.list_tenants().await?,
            };
            let started = std::time::Instant::now();
            let mut total = store::RollupRebuild::default();
            for t in &tenants {
                let one = std::time::Instant::now();
                let r = store.rebuild_rollups(t.id).await?;
                println!(
                    "{}\t{} distance rows\t{} spend rows\t{} cost rows\t{} fuel rows\t{} daily meter rows\t{} vehicles rated\t{:.1} s",
                    t.slug,
                    r.distance_rows,
                    r.spend_rows,
                    r.cost_rows,
                    r.fuel_rows,
                    r.daily_meter_rows,
                    r.rated_vehicles,
                    one.elapsed().as_secs_f64()
                );
                total.distance_rows += r.distance_rows;
                total.spend_rows += r.spend_rows;
                total.cost_rows += r.cost_rows;
                total.fuel_rows += r.fuel_rows;
                total.daily_meter_rows += r.daily_meter_rows;
                total.rated_vehicles += r.rated_vehicles;
            }
            println!(
                "Rebuilt the rollups of {} tenants: {} distance rows, {} spend rows, {} cost rows, {} fuel rows, {} daily meter rows, {} vehicles rated in {:.1} s",
                tenants.len(),
                total.distance_rows,
                total.spend_rows,
                total.cost_rows,
                total.fuel_rows,
                total.daily_meter_rows,
                total.rated_vehicles,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
