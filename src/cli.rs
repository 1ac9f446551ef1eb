//! The command line: `serve`, `migrate`, `import`, `export`, `token`, `schema`, `generate`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::io::{AsyncWriteExt, BufReader};

use crate::app::App;
use crate::auth::{Role, Signer};
use crate::config::Settings;
use crate::db;
use crate::interchange::{export, import};

/// GraphQL API gateway for Vietnam's public-service data.
#[derive(Parser)]
#[command(name = "dvc-gateway", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrating the database first).
    Serve {
        /// Load the demo data set (Quảng Nam, 2024) into an empty database.
        #[arg(long)]
        demo: bool,
        /// Size of the demo data set: 1.0 is the full published volume (390,402 dossiers).
        #[arg(long, default_value_t = demo::DEFAULT_SCALE)]
        demo_scale: f64,
    },
    /// Apply migrations and exit.
    Migrate,
    /// Import JSON Lines (`-` reads standard input).
    Import {
        file: String,
        /// Keep the valid lines instead of writing nothing when a line is bad.
        #[arg(long)]
        skip_invalid: bool,
        /// Where to write the bad lines (with --skip-invalid).
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Seal personal data with the development PII_KEY anyway (no other key can open it later).
        #[arg(long)]
        allow_dev_pii_key: bool,
    },
    /// Write JSON Lines to standard output.
    Export {
        /// Only this unit's scope (with what its records refer to).
        #[arg(long)]
        unit: Option<String>,
        /// Open personal data with the development PII_KEY anyway.
        #[arg(long)]
        allow_dev_pii_key: bool,
    },
    /// Delete the audit events older than AUDIT_RETENTION_DAYS (what `serve` does daily; run it as the table's
    /// owner when the gateway's own database role may only insert and read them).
    AuditPurge,
    /// Write the audit trail as JSON Lines to standard output, oldest first.
    AuditExport {
        /// Only the events about this unit's scope (as of now).
        #[arg(long)]
        unit: Option<String>,
        /// Events at or after this day (YYYY-MM-DD, Vietnam time).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Events before this day.
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
    },
    /// Print a signed token with the configured key.
    Token {
        #[arg(long)]
        role: Role,
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        sub: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Write the demo data set (Quảng Nam, 2024) as JSON Lines to standard output.
    Generate {
        /// 1.0 is the full published volume (390,402 dossiers).
        #[arg(long, default_value_t = demo::DEFAULT_SCALE)]
        scale: f64,
        #[arg(long, default_value_t = 2024)]
        seed: u64,
    },
}

/// Logs to standard error, one line per event, written by a thread of its own so that no request waits for
/// the terminal or the pipe (under a burst beyond its buffer the writer drops lines rather than slow requests
/// down); colours only on a terminal; JSON objects with `LOG_FORMAT=json`. The guard flushes on drop.
fn init_logging(json: bool) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The writer thread flushes whenever it has written every line it was given: under load, many lines go out
    // in one write, and a quiet gateway's lines still appear at once.
    let (writer, guard) =
        tracing_appender::non_blocking(std::io::BufWriter::with_capacity(64 << 10, std::io::stderr()));
    crate::http::access::init(writer.clone(), json);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    if json {
        builder.json().init();
    } else {
        builder.compact().with_target(false).with_ansi(std::io::stderr().is_terminal()).init();
    }
    guard
}

/// Runs the command line.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    let _log = init_logging(settings.log_json);
    match cli.command {
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Token { role, unit, sub, ttl } => {
            println!("{}", Signer::new(&settings.jwt)?.sign(&sub, role, unit.as_deref(), ttl)?);
            Ok(())
        }
        Command::Generate { scale, seed } => generate(scale, seed),
        Command::Migrate => {
            open(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Import { file, skip_invalid, rejects, allow_dev_pii_key } => {
            refuse_dev_pii_key(&settings, allow_dev_pii_key)?;
            import_file(settings, &file, skip_invalid, rejects.as_deref()).await
        }
        Command::Export { unit, allow_dev_pii_key } => {
            refuse_dev_pii_key(&settings, allow_dev_pii_key)?;
            export_all(settings, unit.as_deref()).await
        }
        Command::AuditPurge => audit_purge(&settings).await,
        Command::AuditExport { unit, from, to } => audit_export(&settings, unit.as_deref(), from, to).await,
        Command::Serve { demo, demo_scale } => serve(settings, demo, demo_scale).await,
    }
}

/// `generate`: the demo data set on standard output.
fn generate(scale: f64, seed: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write_demo(&mut out, scale, seed)?;
    out.flush()?;
    Ok(())
}

/// `import`: a JSON Lines file (or standard input, `-`) in one transaction; refused as a whole on a bad line
/// unless `skip_invalid`, whose bad lines go to `rejects`.
async fn import_file(
    settings: Settings,
    file: &str,
    skip_invalid: bool,
    rejects: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let stamp = crate::service::audit::operator_stamp(&settings.operator, "import");
    let app = App::new(open(&settings).await?, settings)?;
    let opts = import::ImportOptions { skip_invalid, ..Default::default() };
    let mut rejects_file = match rejects {
        Some(p) => {
            Some(tokio::fs::File::create(p).await.with_context(|| format!("cannot create {}", p.display()))?)
        }
        None => None,
    };
    let sink: import::Rejects<'_> =
        rejects_file.as_mut().map(|f| f as &mut (dyn tokio::io::AsyncWrite + Unpin + Send));
    let report = if file == "-" {
        let input = BufReader::new(tokio::io::stdin());
        import::import(&app.db, &app.vault, &stamp, input, opts, sink).await?
    } else {
        let f = tokio::fs::File::open(file).await.with_context(|| format!("cannot open {file}"))?;
        import::import(&app.db, &app.vault, &stamp, BufReader::with_capacity(1 << 16, f), opts, sink).await?
    };
    if !skip_invalid {
        for e in &report.errors {
            eprintln!("{e}");
        }
    }
    eprintln!(
        "lines: {}, written: {}, unchanged: {}, rejected: {}{}",
        report.lines,
        report.written,
        report.unchanged,
        report.rejected,
        if report.committed { "" } else { " — nothing was written" }
    );
    if report.committed { Ok(()) } else { anyhow::bail!("import refused: {} bad line(s)", report.rejected) }
}

/// `export`: every record (or those of one unit's scope) as JSON Lines on standard output.
async fn export_all(settings: Settings, unit: Option<&str>) -> anyhow::Result<()> {
    let stamp = crate::service::audit::operator_stamp(&settings.operator, "export");
    let app = with_replicas(App::new(open(&settings).await?, settings)?, None).await?;
    let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
    let source = app.reads.fresh().await;
    let report = export::export(source, &app.db, &app.vault, &stamp, unit, &mut out).await?;
    out.flush().await?;
    tracing::info!(records = report.records, "export done");
    Ok(())
}

/// `app` reading through the replicas of `DATABASE_REPLICA_URL`, if any (their statements stopped after
/// `statement_timeout`).
async fn with_replicas(app: App, statement_timeout: Option<std::time::Duration>) -> anyhow::Result<App> {
    let mut replicas = Vec::new();
    for url in &app.settings.replica_urls {
        replicas.push(db::connect_replica(url, None, statement_timeout).await?);
    }
    if replicas.is_empty() {
        return Ok(app);
    }
    tracing::info!(replicas = replicas.len(), "reads may go to the configured replicas");
    let wait = app.settings.replica_max_wait;
    Ok(app.with_replicas(replicas, wait))
}

/// `audit-purge`: deletes the audit events older than the retention.
async fn audit_purge(settings: &Settings) -> anyhow::Result<()> {
    let conn = open(settings).await?;
    let keep = i64::from(settings.audit_retention_days) * 86_400_000_000;
    let n = db::audit::purge(&conn, crate::domain::time::now() - keep).await?;
    eprintln!("audit events deleted: {n}");
    Ok(())
}

/// `audit-export`: the audit trail (of one unit's scope, within a period) as JSON Lines on standard output.
async fn audit_export(
    settings: &Settings,
    unit: Option<&str>,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> anyhow::Result<()> {
    let conn = open(settings).await?;
    let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
    let period = (from.map(crate::domain::time::start_of), to.map(crate::domain::time::start_of));
    let n = crate::service::audit::export_trail(&conn, &settings.operator, unit, period, &mut out).await?;
    out.flush().await?;
    tracing::info!(events = n, "audit export done");
    Ok(())
}

/// SIGTERM or SIGINT.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// `serve`: the gateway until SIGINT or SIGTERM, with the demo data loaded first if asked.
async fn serve(settings: Settings, demo: bool, demo_scale: f64) -> anyhow::Result<()> {
    // The production profile refused development secrets already (Settings::from_env).
    if settings.jwt.secret.is_none() && settings.jwt.alg == crate::config::JwtAlg::Hs256 {
        tracing::warn!("JWT_SECRET is not set: using the development secret; never do this in production");
    }
    if settings.dev_pii_key() {
        tracing::warn!("PII_KEY is not set: personal data is sealed with the development key");
    }
    // Statements of a request stop at the request's timeout (commands run without one: an import is long).
    let conn = db::connect(&settings.database_url, None, Some(settings.limits.request_timeout)).await?;
    db::migrate(&conn, &crate::pii::Vault::new(settings.pii_key())).await?;
    let listener = std::net::TcpListener::bind(settings.bind_addr)
        .with_context(|| format!("cannot bind {}", settings.bind_addr))?;
    let app = App::new(conn, settings)?;
    let timeout = app.settings.limits.request_timeout;
    let app = with_replicas(app, Some(timeout)).await?;
    app.listen_for_writes();
    if demo {
        load_demo(&app, demo_scale).await?;
    }
    let purge = tokio::spawn(crate::audit::purge_daily(app.db.clone(), app.settings.audit_retention_days));
    let extend = tokio::spawn(db::rollup::keep_open_extended(app.db.clone()));
    let groups = tokio::spawn(db::groups::keep_fresh(app.db.clone(), std::time::Duration::from_millis(250)));
    let workers = crate::startup::workers();
    let pools = match app.db.get_database_backend() {
        // SQLite writes through one connection at a time: the workers share the app's pool.
        sea_orm::DbBackend::Sqlite => Vec::new(),
        _ => {
            db::connect_per_worker(&app.settings.database_url, workers, db::MAX_CONNECTIONS, Some(timeout))
                .await?
        }
    };
    let schema = crate::graphql::build_schema(app.clone());
    let running = crate::startup::run_with_pools(app.clone(), schema, listener, pools)?;
    announce(running.addr, app.settings.graphiql, app.settings.scorecard, demo);
    let stop = running.stopper();
    tokio::spawn(async move {
        stop_signal().await;
        tracing::info!("stopping: finishing the requests in flight, closing WebSockets");
        stop.await;
    });
    running.server.await?;
    // Stopped (SIGINT or SIGTERM): the lease goes back, so that other instances' writes stop waiting for this one.
    app.freshness.release(&app.db).await;
    // The accesses the writer still holds go to the database first.
    purge.abort();
    extend.abort();
    groups.abort();
    if !app.audit.flush_within(std::time::Duration::from_secs(30)).await {
        tracing::error!("stopping with audit events the database did not take");
    }
    Ok(())
}

/// Connects to the configured database and applies pending migrations.
async fn open(settings: &Settings) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let conn = db::connect(&settings.database_url, None, None).await?;
    db::migrate(&conn, &crate::pii::Vault::new(settings.pii_key())).await?;
    Ok(conn)
}

/// Data sealed with the development key cannot be opened once the real key is set: importing or exporting with
/// it is refused unless the operator says so.
fn refuse_dev_pii_key(settings: &Settings, allowed: bool) -> anyhow::Result<()> {
    if settings.dev_pii_key() && !allowed {
        anyhow::bail!(
            "PII_KEY is not set: personal data would be sealed or opened with the development key, which no \
             deployment can read later. Set PII_KEY, or pass --allow-dev-pii-key for throwaway data."
        );
    }
    Ok(())
}

/// The first query the start-up line suggests: one that needs no token and has an answer.
const FIRST_QUERY_DEMO: &str =
    r#"{ indicators(unitCode: "49", period: { year: 2024 }) { unitCode total grade } }"#;
const FIRST_QUERY: &str = "{ units(level: PROVINCE) { code name } }";

/// Says where the gateway listens, as a URL to open (an unspecified address, such as 0.0.0.0, is reached at
/// the loopback address), and a first query to try.
fn announce(addr: std::net::SocketAddr, graphiql: bool, scorecard: bool, demo: bool) {
    let mut open = addr;
    if open.ip().is_unspecified() {
        open.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let query = if demo { FIRST_QUERY_DEMO } else { FIRST_QUERY };
    if graphiql {
        tracing::info!(%addr, "dvc-gateway listening: open http://{open}/graphiql and run {query}");
    } else {
        tracing::info!(
            %addr,
            "dvc-gateway listening: POST GraphQL to http://{open}/graphql, for example {query} (GraphiQL is off)"
        );
    }
    if scorecard {
        tracing::info!(%addr, "the Decision 766 scorecard: open http://{open}/scorecard");
    }
}

/// Writes the demo data set as JSON Lines; returns the number of lines.
fn write_demo(out: &mut impl std::io::Write, scale: f64, seed: u64) -> std::io::Result<u64> {
    let mut failed = None;
    let mut lines = 0;
    demo::generate(&demo::DemoOptions { scale, seed }, &mut |r| {
        if failed.is_none() {
            match writeln!(out, "{}", r.to_line()) {
                Ok(()) => lines += 1,
                Err(e) => failed = Some(e),
            }
        }
    });
    failed.map_or(Ok(lines), Err)
}

/// An input that counts the bytes read through it, for the progress of an import.
struct Counted<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.read.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        polled
    }
}

/// Logs every few seconds how much of the demo file the import has read, until it is all read.
async fn log_progress(read: std::sync::Arc<std::sync::atomic::AtomicU64>, bytes: u64, records: u64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3));
    tick.tick().await;
    loop {
        tick.tick().await;
        let done = read.load(std::sync::atomic::Ordering::Relaxed).min(bytes);
        if done >= bytes {
            tracing::info!(
                records,
                "importing the demo data: every record read; updating the indicator summaries"
            );
            return;
        }
        let share = done as f64 / bytes.max(1) as f64;
        tracing::info!(
            "importing the demo data: {:.0} % (about {} of {records} records)",
            share * 100.0,
            (share * records as f64).round() as u64
        );
    }
}

/// Loads the demo data set into an empty database, as `serve --demo` does: generated into a temporary file,
/// then imported like any other file, so that the demo goes through the real import path. Logs its progress
/// (20–25 s at the default scale in a debug build).
pub async fn load_demo(app: &App, scale: f64) -> anyhow::Result<()> {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let existing = entity::dossier::Entity::find().count(&app.db).await?;
    if existing > 0 {
        tracing::info!(dossiers = existing, "the database already holds dossiers: demo data not loaded");
        return Ok(());
    }
    let started = std::time::Instant::now();
    tracing::info!(scale, "loading the demo data (Quảng Nam, 2024): generating it");
    let path = std::env::temp_dir().join(format!(
        "dvc-gateway-demo-{}-{}.jsonl",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let records = {
        use std::io::Write;
        let file =
            std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let records = write_demo(&mut out, scale, 2024)?;
        out.flush()?;
        records
    };
    let file = tokio::fs::File::open(&path).await?;
    let bytes = file.metadata().await?.len();
    tracing::info!(
        records,
        seconds = started.elapsed().as_secs_f64(),
        "loading the demo data: generated; importing it"
    );
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let progress = tokio::spawn(log_progress(read.clone(), bytes, records));
    let stamp = crate::service::audit::operator_stamp(&app.settings.operator, "import (demo)");
    let report = import::import(
        &app.db,
        &app.vault,
        &stamp,
        BufReader::with_capacity(1 << 16, Counted { inner: file, read }),
        import::ImportOptions::default(),
        None,
    )
    .await;
    progress.abort();
    let _ = std::fs::remove_file(&path);
    let report = report?;
    if !report.committed {
        anyhow::bail!("the demo data did not import: {:?}", report.errors.first());
    }
    tracing::info!(
        records = report.written,
        seconds = started.elapsed().as_secs_f64(),
        "demo data loaded: Quảng Nam (49), 2024"
    );
    Ok(())
}
