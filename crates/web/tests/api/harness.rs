//! Starting servers and making callers.

use std::sync::Arc;

use domain::credentials::{Password, SecretToken, TokenKind, hash_password};
use domain::tenancy::{Email, Role, Slug, TenantKind};
use motorpool_web::{AppServices, AppState, Application, Metrics, WebSettings};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use store::testing::TestDatabase;
use store::{AuditContext, NewApiToken, NewUser, Tenant, User};

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub db: TestDatabase,
    pub base: String,
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// How a test request authenticates.
#[derive(Clone, Debug)]
pub enum Caller {
    Anonymous,
    Token(String),
    Session { cookie: String, csrf: String },
}

fn ctx() -> AuditContext {
    AuditContext::system("test setup")
}

impl TestApp {
    pub async fn spawn(mut db: TestDatabase) -> TestApp {
        // As `serve` runs it: with the credential cache (shared with the
        // tests' own store handle, as in one process), so the revocation,
        // logout and membership tests prove its invalidation.
        db.store = db
            .store
            .clone()
            .with_credential_cache(std::time::Duration::from_secs(60));
        let settings = WebSettings {
            max_body_bytes: 64 * 1024,
            ..WebSettings::default()
        };
        let files = store::FileStore::open(std::env::temp_dir().join(format!(
            "motorpool-test-files-{}",
            uuid::Uuid::now_v7().simple()
        )))
        .unwrap();
        let state = AppState::new(AppServices {
            store: db.store.clone(),
            files,
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::default()),
            keyring: Arc::new(domain::sealed::Keyring::new([42; 32], vec![])),
        });
        let app = Application::build("127.0.0.1:0".parse().unwrap(), state)
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        TestApp {
            db,
            base,
            http: reqwest::Client::new(),
            _stop: stop,
        }
    }

    /// One server per available backend.
    pub async fn all() -> Vec<TestApp> {
        let mut apps = Vec::new();
        for db in TestDatabase::all().await {
            apps.push(TestApp::spawn(db).await);
        }
        apps
    }

    pub fn name(&self) -> &'static str {
        self.db.kind.as_str()
    }

    pub async fn tenant(&self, slug: &str) -> Tenant {
        self.db
            .store
            .create_tenant(&Slug::parse(slug).unwrap(), slug, TenantKind::Fleet, &ctx())
            .await
            .unwrap()
    }

    /// A user with [`PASSWORD`], a member of `tenant` with `role`.
    pub async fn member(&self, email: &str, tenant: &Tenant, role: Role) -> User {
        let email = Email::parse(email).unwrap();
        let user = match self.db.store.user_by_email(&email).await {
            Ok(u) => u,
            Err(_) => {
                let hash = hash_password(&Password::new(PASSWORD.into()).unwrap()).unwrap();
                let new = NewUser {
                    email,
                    display_name: "Test".into(),
                    password_hash: Some(hash),
                    is_instance_admin: false,
                };
                self.db.store.create_user(&new, &ctx()).await.unwrap()
            }
        };
        self.db
            .store
            .set_membership(tenant.id, user.id, role, &ctx())
            .await
            .unwrap();
        user
    }

    /// An API token for `user` in `tenant` with the given ceiling.
    pub async fn token(&self, tenant: &Tenant, user: &User, ceiling: Role) -> Caller {
        let secret = SecretToken::generate(TokenKind::Api).unwrap();
        let new = NewApiToken {
            name: "test".into(),
            token_hash: secret.hash(),
            user_id: user.id,
            role_ceiling: ceiling,
            expires_at: None,
        };
        self.db
            .store
            .create_api_token(tenant.id, &new, &ctx())
            .await
            .unwrap();
        Caller::Token(secret.expose().to_string())
    }

    /// A tenant with a member of `role` and a token acting for them.
    pub async fn caller(&self, slug: &str, role: Role) -> (Tenant, Caller) {
        let tenant = match self.db.store.tenant_by_slug(slug).await {
            Ok(t) => t,
            Err(_) => self.tenant(slug).await,
        };
        let user = self
            .member(&format!("{}@{slug}.example", role.as_str()), &tenant, role)
            .await;
        let caller = self.token(&tenant, &user, Role::Owner).await;
        (tenant, caller)
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Logs in and returns a session caller.
    pub async fn session(&self, email: &str) -> Caller {
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "{}: login", self.name());
        let cookie = response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let body: Value = response.json().await.unwrap();
        Caller::Session {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_string(),
        }
    }

    pub fn request(&self, caller: &Caller, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match caller {
            Caller::Anonymous => builder,
            Caller::Token(t) => builder.bearer_auth(t),
            Caller::Session { cookie, csrf } => builder
                .header("cookie", cookie)
                .header("x-csrf-token", csrf),
        }
    }

    /// Sends and returns status and JSON body (Null when empty).
    pub async fn call(
        &self,
        caller: &Caller,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.request(caller, method, path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        (status, json)
    }

    /// The fields named in a problem body.
    pub fn fields(problem: &Value) -> Vec<String> {
        problem["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many live vehicles the tenant has, read straight from the store.
    pub async fn vehicle_count(&self, tenant: &Tenant) -> usize {
        let filter = store::VehicleFilter {
            limit: 500,
            ..Default::default()
        };
        self.db
            .store
            .list_vehicles(tenant.id, &filter)
            .await
            .unwrap()
            .items
            .len()
    }
}
