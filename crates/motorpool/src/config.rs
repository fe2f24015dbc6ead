//! Settings: command-line flags, then `MOTORPOOL_*` environment variables
//! (clap reads both, flags first), then an optional TOML file, then defaults.
//! A bad value stops the program at start with a message naming the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use serde::Deserialize;

/// Settings that every subcommand accepts.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// A TOML file of settings (keys as in the flags, with `_` for `-`).
    #[arg(long, env = "MOTORPOOL_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// `sqlite://path` or `postgres://user@host/db` [default: sqlite://data/motorpool.db]
    #[arg(
        long,
        env = "MOTORPOOL_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Log format: `pretty` or `json` [default: pretty]
    #[arg(long, env = "MOTORPOOL_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
}

/// Settings only the server uses.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "MOTORPOOL_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// URL users reach the server at; `https://` enables secure cookies [default: http://LISTEN]
    #[arg(long, env = "MOTORPOOL_BASE_URL")]
    pub base_url: Option<String>,
    /// PostgreSQL only: an owner URL used to apply migrations at start.
    #[arg(long, env = "MOTORPOOL_MIGRATE_DATABASE_URL", hide_env_values = true)]
    pub migrate_database_url: Option<String>,
    /// File holding the 32-byte encryption key (base64); created if missing [default: data/secret.key]
    #[arg(long, env = "MOTORPOOL_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// Earlier secret key files, comma-separated: stored secrets sealed with them still open (key rotation)
    #[arg(
        long,
        env = "MOTORPOOL_PREVIOUS_SECRET_KEY_FILES",
        value_delimiter = ','
    )]
    pub previous_secret_key_files: Vec<PathBuf>,
    /// Folder of document files (content-addressed; share it between replicas) [default: data/documents]
    #[arg(long, env = "MOTORPOOL_DOCUMENTS_DIR")]
    pub documents_dir: Option<PathBuf>,
    /// Largest document upload in bytes [default: 26214400]
    #[arg(long, env = "MOTORPOOL_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<usize>,
    /// Most database connections in the pool [default: 16]
    #[arg(long, env = "MOTORPOOL_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
    /// Largest request body in bytes [default: 1048576]
    #[arg(long, env = "MOTORPOOL_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Hours a session lasts without use [default: 336]
    #[arg(long, env = "MOTORPOOL_SESSION_HOURS")]
    pub session_hours: Option<i64>,
    /// Seconds a resolved token or session is reused without looking it up again (each request still checks the credential epoch, so logout, revocation and role changes apply at once); 0 turns it off [default: 5]
    #[arg(long, env = "MOTORPOOL_CREDENTIAL_CACHE_SECS")]
    pub credential_cache_secs: Option<u64>,
    /// Seconds a tenant's fleet overview is served after it is computed (its `computed_at` says when); 0 computes it for every request [default: 5]
    #[arg(long, env = "MOTORPOOL_OVERVIEW_CACHE_SECS")]
    pub overview_cache_secs: Option<u64>,
    /// Trust X-Forwarded-For (only behind a proxy that sets it) [default: false]
    #[arg(long, env = "MOTORPOOL_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: Option<bool>,
    /// Start even if the PostgreSQL role bypasses row-level security (development only) [default: false]
    #[arg(long, env = "MOTORPOOL_ALLOW_PRIVILEGED_DATABASE_ROLE")]
    pub allow_privileged_database_role: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The TOML file's shape. Unknown keys are an error, so typos are caught.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    log_format: Option<LogFormat>,
    listen: Option<SocketAddr>,
    base_url: Option<String>,
    migrate_database_url: Option<String>,
    secret_key_file: Option<PathBuf>,
    previous_secret_key_files: Option<Vec<PathBuf>>,
    documents_dir: Option<PathBuf>,
    max_upload_bytes: Option<usize>,
    max_connections: Option<u32>,
    max_body_bytes: Option<usize>,
    session_hours: Option<i64>,
    credential_cache_secs: Option<u64>,
    overview_cache_secs: Option<u64>,
    trust_forwarded_for: Option<bool>,
    allow_privileged_database_role: Option<bool>,
}

/// A database URL whose password never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
    fn redacted(&self) -> String {
        // scheme://user:password@host → scheme://user:***@host
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &self.0[scheme + 3..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        format!("{}{user}:***{}", &self.0[..scheme + 3], &self.0[at..])
                    }
                    None => self.0.clone(),
                }
            }
            _ => self.0.clone(),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The 32-byte key that encrypts stored credentials. Never printed.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Settings common to every command, resolved.
#[derive(Debug, Clone)]
pub struct Common {
    pub database_url: DatabaseUrl,
    pub log_format: LogFormat,
    file: FileSettingsHandle,
}

/// The parsed file, kept for the server settings resolved later. Its Debug
/// is opaque: the file may hold database URLs with passwords.
#[derive(Clone, Default)]
struct FileSettingsHandle(std::sync::Arc<FileSettings>);

impl std::fmt::Debug for FileSettingsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileSettings(<see the resolved settings>)")
    }
}

/// Everything the server needs, resolved.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    pub base_url: String,
    pub migrate_database_url: Option<DatabaseUrl>,
    pub secret_key_file: PathBuf,
    pub previous_secret_key_files: Vec<PathBuf>,
    pub documents_dir: PathBuf,
    pub max_upload_bytes: usize,
    pub max_connections: u32,
    pub max_body_bytes: usize,
    pub session_hours: i64,
    /// Seconds a resolved credential is kept (see `store::Store::with_credential_cache`).
    pub credential_cache_secs: u64,
    /// Seconds a fleet overview is served (see `store::Store::with_overview_cache`).
    pub overview_cache_secs: u64,
    pub trust_forwarded_for: bool,
    pub allow_privileged_database_role: bool,
}

fn check_database_url(name: &str, url: String) -> anyhow::Result<DatabaseUrl> {
    if url.starts_with("sqlite:") || url.starts_with("postgres:") || url.starts_with("postgresql:")
    {
        Ok(DatabaseUrl(url))
    } else {
        bail!("invalid setting `{name}`: must start with sqlite:// or postgres://")
    }
}

impl Common {
    pub fn resolve(args: &CommonArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let database_url = args
            .database_url
            .clone()
            .or_else(|| file.database_url.clone())
            .unwrap_or_else(|| "sqlite://data/motorpool.db".to_string());
        Ok(Self {
            database_url: check_database_url("database_url", database_url)?,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Pretty),
            file: FileSettingsHandle(std::sync::Arc::new(file)),
        })
    }

    pub fn serve(&self, args: &ServeArgs) -> anyhow::Result<ServeSettings> {
        let f = &self.file.0;
        let listen = args
            .listen
            .or(f.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let base_url = args
            .base_url
            .clone()
            .or_else(|| f.base_url.clone())
            .unwrap_or_else(|| format!("http://{listen}"));
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            bail!("invalid setting `base_url`: must start with http:// or https://");
        }
        let migrate_database_url = args
            .migrate_database_url
            .clone()
            .or_else(|| f.migrate_database_url.clone())
            .map(|u| check_database_url("migrate_database_url", u))
            .transpose()?;
        let max_connections = args.max_connections.or(f.max_connections).unwrap_or(16);
        if max_connections == 0 {
            bail!("invalid setting `max_connections`: must be at least 1");
        }
        let max_body_bytes = args
            .max_body_bytes
            .or(f.max_body_bytes)
            .unwrap_or(1024 * 1024);
        if max_body_bytes < 1024 {
            bail!("invalid setting `max_body_bytes`: must be at least 1024");
        }
        let max_upload_bytes = args
            .max_upload_bytes
            .or(f.max_upload_bytes)
            .unwrap_or(25 * 1024 * 1024);
        if max_upload_bytes < 1024 {
            bail!("invalid setting `max_upload_bytes`: must be at least 1024");
        }
        let session_hours = args.session_hours.or(f.session_hours).unwrap_or(14 * 24);
        if !(1..=24 * 365).contains(&session_hours) {
            bail!("invalid setting `session_hours`: must be 1 to 8760");
        }
        let credential_cache_secs = args
            .credential_cache_secs
            .or(f.credential_cache_secs)
            .unwrap_or(5);
        if credential_cache_secs > 60 {
            bail!("invalid setting `credential_cache_secs`: must be 0 to 60");
        }
        let overview_cache_secs = args
            .overview_cache_secs
            .or(f.overview_cache_secs)
            .unwrap_or(5);
        if overview_cache_secs > 300 {
            bail!("invalid setting `overview_cache_secs`: must be 0 to 300");
        }
        Ok(ServeSettings {
            listen,
            base_url: base_url.trim_end_matches('/').to_string(),
            migrate_database_url,
            secret_key_file: args
                .secret_key_file
                .clone()
                .or_else(|| f.secret_key_file.clone())
                .unwrap_or_else(|| PathBuf::from("data/secret.key")),
            previous_secret_key_files: if args.previous_secret_key_files.is_empty() {
                f.previous_secret_key_files.clone().unwrap_or_default()
            } else {
                args.previous_secret_key_files.clone()
            },
            documents_dir: args
                .documents_dir
                .clone()
                .or_else(|| f.documents_dir.clone())
                .unwrap_or_else(|| PathBuf::from("data/documents")),
            max_upload_bytes,
            max_connections,
            max_body_bytes,
            session_hours,
            credential_cache_secs,
            overview_cache_secs,
            trust_forwarded_for: args
                .trust_forwarded_for
                .or(f.trust_forwarded_for)
                .unwrap_or(false),
            allow_privileged_database_role: args
                .allow_privileged_database_role
                .or(f.allow_privileged_database_role)
                .unwrap_or(false),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// The keyring that seals stored secrets: the current key (created if
/// missing) and the previous keys, which must exist.
pub fn load_keyring(settings: &ServeSettings) -> anyhow::Result<domain::sealed::Keyring> {
    let current = load_or_create_secret_key(&settings.secret_key_file)?;
    let previous = settings
        .previous_secret_key_files
        .iter()
        .map(|p| load_secret_key(p).map(|k| k.0))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(domain::sealed::Keyring::new(current.0, previous))
}

/// Reads a key file: 32 bytes of base64.
fn load_secret_key(path: &Path) -> anyhow::Result<SecretKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read secret key file {}", path.display()))?;
    let bytes = STANDARD.decode(text.trim()).with_context(|| {
        format!(
            "invalid setting `secret_key_file`: {} is not base64",
            path.display()
        )
    })?;
    let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!(
            "invalid setting `secret_key_file`: {} holds {} bytes, expected 32",
            path.display(),
            b.len()
        )
    })?;
    Ok(SecretKey(key))
}

/// Loads the secret key, creating a new random one (mode 0600) if the file
/// does not exist. A file that exists but is not 32 bytes of base64 is an error.
pub fn load_or_create_secret_key(path: &Path) -> anyhow::Result<SecretKey> {
    if path.exists() {
        return load_secret_key(path);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| anyhow::anyhow!("no randomness for the secret key: {e}"))?;
    write_private(path, STANDARD.encode(key).as_bytes())?;
    tracing::info!(path = %path.display(), "created a new secret key; back it up with the database");
    Ok(SecretKey(key))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create secret key file {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes)
        .with_context(|| format!("cannot create secret key file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(args: &[&str]) -> anyhow::Result<(Common, ServeArgs)> {
        #[derive(clap::Parser)]
        struct T {
            #[command(flatten)]
            common: CommonArgs,
            #[command(flatten)]
            serve: ServeArgs,
        }
        let t =
            <T as clap::Parser>::try_parse_from(std::iter::once("t").chain(args.iter().copied()))?;
        Ok((Common::resolve(&t.common)?, t.serve))
    }

    #[test]
    fn database_url_passwords_never_print() {
        let url = DatabaseUrl("postgres://app:hunter2@db.example:5432/motorpool".into());
        assert_eq!(
            format!("{url:?}"),
            "\"postgres://app:***@db.example:5432/motorpool\""
        );
        assert_eq!(
            url.to_string(),
            "postgres://app:***@db.example:5432/motorpool"
        );
        assert_eq!(
            DatabaseUrl("sqlite://data/x.db".into()).to_string(),
            "sqlite://data/x.db"
        );
        assert_eq!(format!("{:?}", SecretKey([7; 32])), "SecretKey(<redacted>)");
    }

    #[test]
    fn resolved_settings_never_debug_print_a_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("motorpool.toml");
        std::fs::write(
            &file,
            "database_url = \"postgres://app:s3cret@db/x\"\nmigrate_database_url = \"postgres://owner:t0psecret@db/x\"\n",
        )
        .unwrap();
        let (c, s) = common(&["--config", file.to_str().unwrap()]).unwrap();
        let printed = format!("{c:?} {:?}", c.serve(&s).unwrap());
        assert!(
            !printed.contains("s3cret") && !printed.contains("t0psecret"),
            "{printed}"
        );
    }

    #[test]
    fn flags_beat_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("motorpool.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\nmax_connections = 4\nbase_url = \"https://fleet.example\"\n").unwrap();
        let (c, s) =
            common(&["--config", file.to_str().unwrap(), "--max-connections", "8"]).unwrap();
        let settings = c.serve(&s).unwrap();
        assert_eq!(settings.listen.to_string(), "0.0.0.0:9000", "from the file");
        assert_eq!(settings.max_connections, 8, "the flag wins");
        assert_eq!(settings.base_url, "https://fleet.example");
        assert_eq!(settings.session_hours, 336, "the default");
        assert_eq!(c.database_url.expose(), "sqlite://data/motorpool.db");
    }

    #[test]
    fn bad_settings_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let err = format!(
            "{:#}",
            common(&["--config", file.to_str().unwrap()]).err().unwrap()
        );
        assert!(err.contains("lisen"), "{err}");
        let err = format!(
            "{:#}",
            common(&["--database-url", "mysql://x"]).err().unwrap()
        );
        assert!(err.contains("database_url"), "{err}");
        let (c, s) = common(&["--base-url", "fleet.example"]).unwrap();
        assert!(c.serve(&s).unwrap_err().to_string().contains("base_url"));
        assert!(common(&["--listen", "nonsense"]).is_err());
    }

    #[test]
    fn secret_key_is_created_once_and_validated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/secret.key");
        let a = load_or_create_secret_key(&path).unwrap();
        let b = load_or_create_secret_key(&path).unwrap();
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::write(dir.path().join("short.key"), STANDARD.encode([1u8; 5])).unwrap();
        let err = load_or_create_secret_key(&dir.path().join("short.key"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("secret_key_file") && err.contains("expected 32"),
            "{err}"
        );
    }
}
