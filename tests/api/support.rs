//! Test harness: databases, apps, tokens, in-process GraphQL execution.

use dvc_gateway::app::App;
use dvc_gateway::auth::{Caller, Role, Signer};
use dvc_gateway::config::Settings;
use dvc_gateway::db;
use dvc_gateway::graphql::{GatewaySchema, Loaders, build_schema};
use dvc_gateway::interchange::import::{ImportOptions, ImportReport, import};
use sea_orm::{ConnectionTrait, DatabaseConnection};

pub const SAMPLE: &str = include_str!("../fixtures/sample.jsonl");
/// The HS256 secret and the personal-data key of the tests' gateways.
pub const TEST_JWT_SECRET: &str = "test-secret";
pub const TEST_PII_KEY: &str = "test-pii-key";

/// The database engines every data test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test per database, so that each reports by itself (a SQLite failure hides nothing of PostgreSQL's):
///
/// ```ignore
/// per_backend! {
///     #[tokio::test]
///     async fn name(backend: Backend) { … }
/// }
/// ```
///
/// defines `async fn name(backend: Backend)` and `mod name` holding the tests `sqlite` and `postgres`
/// (`module::name::sqlite`, `module::name::postgres`), each marked with the attribute given and calling the
/// function with its database.
macro_rules! per_backend {
    (#[$test:meta] async fn $name:ident($backend:ident: Backend $(,)?) $body:block) => {
        async fn $name($backend: $crate::support::Backend) $body

        mod $name {
            #[$test]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }

            #[$test]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    };
}
pub(crate) use per_backend;

/// A fresh, migrated database. SQLite files live in a temporary folder removed on drop; a PostgreSQL schema
/// is created for the test.
pub struct TestDb {
    pub conn: DatabaseConnection,
    /// The PostgreSQL schema to drop when the test ends.
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else { return };
        // Dropping is async and Drop is not: a short-lived runtime on a thread of its own does it, so that test
        // schemas do not pile up in the shared database.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                if let Ok(admin) = db::connect(&postgres_url(), None, None).await {
                    let _ =
                        admin.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                    admin.close().await.ok();
                }
            });
        })
        .join();
    }
}

pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl TestDb {
    /// The PostgreSQL schema of this database (`None` on SQLite).
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// A fresh, migrated database.
    pub async fn new(backend: Backend) -> TestDb {
        let db = TestDb::empty(backend).await;
        db::migrate(&db.conn, &test_vault()).await.expect("migrations run");
        db
    }

    /// A fresh database without any table.
    pub async fn empty(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
                let conn = db::connect(&url, None, None).await.expect("sqlite connects");
                TestDb { conn, schema: None, _dir: Some(dir) }
            }
            Backend::Postgres => {
                let url = postgres_url();
                let admin = db::connect(&url, None, None)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {url} must be running: {e}"));
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                admin.execute_unprepared(&format!("CREATE SCHEMA {schema}")).await.expect("create schema");
                admin.close().await.ok();
                let conn = db::connect(&url, Some(&schema), None).await.expect("connect to schema");
                TestDb { conn, schema: Some(schema), _dir: None }
            }
        }
    }
}

pub fn test_vault() -> dvc_gateway::pii::Vault {
    dvc_gateway::pii::Vault::new(TEST_PII_KEY)
}

pub fn settings() -> Settings {
    Settings::from_lookup(|k| match k {
        "JWT_SECRET" => Some(TEST_JWT_SECRET.to_owned()),
        "PII_KEY" => Some(TEST_PII_KEY.to_owned()),
        _ => None,
    })
    .expect("settings")
}

/// The audit stamp of a test's imports and exports.
pub fn operator(operation: &str) -> dvc_gateway::db::audit::Stamp {
    dvc_gateway::service::audit::operator_stamp("test", operation)
}

pub fn app(db: &TestDb) -> App {
    let app = App::new(db.conn.clone(), settings()).expect("app");
    app.listen_for_writes();
    app
}

pub async fn import_str(app: &App, text: &str, skip_invalid: bool) -> ImportReport {
    let opts = ImportOptions { skip_invalid, ..Default::default() };
    import(&app.db, &app.vault, &operator("import"), text.as_bytes(), opts, None).await.expect("import runs")
}

/// An export, as text.
pub async fn export_str(app: &App, unit: Option<&str>) -> String {
    let mut out: Vec<u8> = Vec::new();
    let stamp = operator("export");
    dvc_gateway::interchange::export::export(&app.db, &app.db, &app.vault, &stamp, unit, &mut out)
        .await
        .expect("export");
    String::from_utf8(out).expect("utf-8")
}

/// A test app with the sample data loaded.
pub async fn sample_app(backend: Backend) -> (TestDb, App) {
    let db = TestDb::new(backend).await;
    let app = app(&db);
    let report = import_str(&app, SAMPLE, false).await;
    assert!(report.committed, "sample imports: {:?}", report.errors.first());
    (db, app)
}

pub fn token(role: Role, unit: Option<&str>, sub: &str) -> String {
    Signer::new(&settings().jwt).expect("signer").sign(sub, role, unit, 600).expect("token")
}

/// Runs one GraphQL request in process as `caller`.
pub async fn run(
    schema: &GatewaySchema,
    app: &App,
    caller: Caller,
    query: &str,
    vars: serde_json::Value,
) -> serde_json::Value {
    let req = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(vars))
        .data(caller)
        .data(Loaders::new(&app.db));
    serde_json::to_value(schema.execute(req).await).expect("json")
}

pub fn schema(app: &App) -> GatewaySchema {
    build_schema(app.clone())
}

pub fn staff(role: Role, unit: &str) -> Caller {
    Caller::Staff { sub: format!("{role:?}-{unit}"), role, unit: unit.to_owned() }
}

/// The `extensions.code` of the first error.
pub fn error_code(v: &serde_json::Value) -> Option<String> {
    v["errors"][0]["extensions"]["code"].as_str().map(str::to_owned)
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// An app on `db` whose aggregate cache is the Redis at `url`, under a key prefix of its own.
pub fn app_with_redis(db: &TestDb, url: &str, prefix: &str) -> App {
    let url = url.to_owned();
    let prefix = prefix.to_owned();
    let settings = Settings::from_lookup(move |k| match k {
        "JWT_SECRET" => Some(TEST_JWT_SECRET.to_owned()),
        "PII_KEY" => Some(TEST_PII_KEY.to_owned()),
        "REDIS_URL" => Some(url.clone()),
        "REDIS_PREFIX" => Some(prefix.clone()),
        _ => None,
    })
    .expect("settings");
    let app = App::new(db.conn.clone(), settings).expect("app");
    app.listen_for_writes();
    app
}

/// A fresh key prefix.
pub fn prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// Serves `app` over HTTP on a free port (inside an actix-web test); returns its base URL.
pub async fn serve(app: App) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let running = dvc_gateway::startup::run(app, listener).unwrap();
    let addr = running.addr;
    tokio::spawn(running.server);
    format!("http://{addr}")
}

/// `/readyz` of a served gateway: its status and body.
pub async fn readyz(base: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}
