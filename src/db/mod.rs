//! Persistence: connecting, migrating, and the queries the rest of the gateway needs. Entity models are turned
//! into domain values here; nothing above this layer sees sea-orm.

pub mod audit;
pub mod bulk;
pub mod coalesce;
pub mod derived;
pub mod freshness;
pub mod groups;
pub mod indicators;
pub mod lifecycle;
pub mod read;
pub mod replicas;
pub mod rollup;
pub mod rows;
pub mod shared_reads;
pub mod sql;
pub mod write;

use std::time::Duration;

use migration::sea_orm_migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryOrder,
    QueryResult, Statement,
};

use crate::domain::scope::{UnitInfo, UnitTree};
use crate::domain::time::Calendar;

/// The connections of a pool (the HTTP workers' pools share this many).
pub const MAX_CONNECTIONS: u32 = 16;

/// Why a connection pool could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot create {path}: {source}")]
    Folder { path: std::path::PathBuf, source: std::io::Error },
    #[error("a read replica must be a PostgreSQL URL")]
    ReplicaNotPostgres,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Opens a connection pool. For SQLite the file's folder is created and write-ahead logging switched on;
/// `schema` (PostgreSQL only) confines the pool to one schema, as tests do.
pub async fn connect(
    url: &str,
    schema: Option<&str>,
    statement_timeout: Option<Duration>,
) -> Result<DatabaseConnection, ConnectError> {
    Ok(Database::connect(options(url, schema, statement_timeout)?).await?)
}

/// Opens `n` pools on the database at `url` that share `max_connections` (at least 2 each) and connect only when
/// first used: one per HTTP worker thread, so that each connection is opened, and its socket polled, by the
/// thread whose requests use it (a connection shared by threads is polled by one and wakes the others).
pub async fn connect_per_worker(
    url: &str,
    n: usize,
    max_connections: u32,
    statement_timeout: Option<Duration>,
) -> Result<Vec<DatabaseConnection>, ConnectError> {
    let mut pools = Vec::with_capacity(n);
    for _ in 0..n {
        let mut opts = options(url, None, statement_timeout)?;
        opts.max_connections((max_connections / n.max(1) as u32).max(2)).connect_lazy(true);
        pools.push(Database::connect(opts).await?);
    }
    Ok(pools)
}

/// Opens a pool on a read replica (PostgreSQL) without connecting yet: the gateway starts, and reads go to the
/// primary, while a replica is down.
pub async fn connect_replica(
    url: &str,
    schema: Option<&str>,
    statement_timeout: Option<Duration>,
) -> Result<DatabaseConnection, ConnectError> {
    if !url.starts_with("postgres") {
        return Err(ConnectError::ReplicaNotPostgres);
    }
    let mut opts = options(url, schema, statement_timeout)?;
    opts.connect_lazy(true);
    Ok(Database::connect(opts).await?)
}

fn options(
    url: &str,
    schema: Option<&str>,
    statement_timeout: Option<Duration>,
) -> Result<ConnectOptions, ConnectError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        if let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|source| ConnectError::Folder { path: dir.to_owned(), source })?;
        }
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .max_connections(MAX_CONNECTIONS)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .create_if_missing(true)
        })
        // The indicator aggregates are expensive enough by the planner's estimate to trigger PostgreSQL's JIT,
        // whose compilation costs more (about a second) than the query itself.
        .map_sqlx_postgres_opts(move |o| {
            let o = o.options([("jit", "off")]);
            // A statement of a request that timed out stops on the server too, not only in the gateway.
            match statement_timeout {
                Some(t) => o.options([("statement_timeout", format!("{}ms", t.as_millis().max(1)))]),
                None => o,
            }
        });
    if let Some(schema) = schema {
        opts.set_schema_search_path(schema.to_owned());
    }
    Ok(opts)
}

/// Applies pending migrations, one at a time so that the steps a migration cannot take itself run in between
/// (they need the key that seals personal data, or the gateway's rules), and makes sure the change counter exists.
pub async fn migrate(conn: &DatabaseConnection, vault: &crate::pii::Vault) -> Result<(), DbErr> {
    let pending: Vec<String> = migration::Migrator::get_pending_migrations(conn)
        .await?
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let fresh = migration::Migrator::get_applied_migrations(conn).await?.is_empty();
    for name in &pending {
        // Who recorded a feedback was stored in clear: it is sealed before the migration that drops the column, on
        // every start until that one is applied (sealing again finds nothing left in clear).
        if name == migration::SEAL_RECORDERS_BEFORE {
            seal_recorders(conn, vault).await?;
        }
        migration::Migrator::up(conn, Some(1)).await?;
    }
    // Rows stored before the indicator summaries existed (or took their present shape) get them derived once.
    if !fresh && pending.iter().any(|m| migration::REBUILD_SUMMARIES_AFTER.contains(&m.as_str())) {
        rollup::rebuild_all(conn).await?;
    }
    if !fresh && pending.iter().any(|m| m == migration::FILL_PROCEDURE_SEARCH_AFTER) {
        fill_procedure_search(conn).await?;
    }
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "INSERT INTO data_change (id, generation) VALUES (0, 0) ON CONFLICT (id) DO NOTHING"
        }
        _ => "INSERT OR IGNORE INTO data_change (id, generation) VALUES (0, 0)",
    };
    conn.execute_unprepared(sql).await?;
    // The open summaries reach the current month before the first report.
    rollup::extend_open(conn, crate::domain::time::month_of(crate::domain::time::now())).await?;
    Ok(())
}

/// Fills `procedure.search_text` of every stored procedure from its code and name, in one transaction.
async fn fill_procedure_search(conn: &DatabaseConnection) -> Result<(), DbErr> {
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set, TransactionTrait};
    let txn = conn.begin().await?;
    for p in entity::procedure::Entity::find().all(&txn).await? {
        let key = crate::domain::search::procedure_key(&p.code, &p.name);
        let mut row = p.into_active_model();
        row.search_text = Set(key);
        row.update(&txn).await?;
    }
    txn.commit().await
}

/// Seals, hashes and masks the clear `feedback.recorded_by` of rows stored before it was personal data, and clears
/// it, in one transaction.
async fn seal_recorders(conn: &DatabaseConnection, vault: &crate::pii::Vault) -> Result<(), DbErr> {
    use sea_orm::TransactionTrait;
    let backend = conn.get_database_backend();
    let txn = conn.begin().await?;
    let rows = txn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, recorded_by FROM feedback WHERE recorded_by IS NOT NULL",
        ))
        .await?;
    for row in rows {
        let id: i64 = row.try_get_by_index(0)?;
        let clear: String = row.try_get_by_index(1)?;
        let r = write::Recorder::of(vault, Some(&clear));
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                DbBackend::Postgres => {
                    "UPDATE feedback SET recorded_by_sealed = $1, recorded_by_hash = $2, recorded_by_masked = $3, \
                     recorded_by = NULL WHERE id = $4"
                }
                _ => {
                    "UPDATE feedback SET recorded_by_sealed = ?, recorded_by_hash = ?, recorded_by_masked = ?, \
                     recorded_by = NULL WHERE id = ?"
                }
            },
            [r.sealed.into(), r.hash.into(), r.masked.into(), id.into()],
        ))
        .await?;
    }
    txn.commit().await
}

/// Every unit, as the domain's tree.
pub async fn load_units(conn: &impl ConnectionTrait) -> Result<UnitTree, DbErr> {
    let rows = entity::unit::Entity::find().order_by_asc(entity::unit::Column::Id).all(conn).await?;
    Ok(UnitTree::new(rows.into_iter().map(unit_info).collect()))
}

/// A unit row as the domain sees it.
fn unit_info(m: entity::unit::Model) -> UnitInfo {
    UnitInfo {
        id: m.id,
        level: m.level,
        code: m.code,
        name: m.name,
        parent_code: m.parent_code,
        valid_from: m.valid_from,
        valid_to: m.valid_to,
        successor_code: m.successor_code,
        offers_e_certified_copy: m.offers_e_certified_copy,
    }
}

/// The holiday calendar.
pub async fn load_calendar(conn: &impl ConnectionTrait) -> Result<Calendar, DbErr> {
    let rows = entity::holiday::Entity::find().all(conn).await?;
    Ok(Calendar::new(rows.into_iter().map(|h| h.date)))
}

/// The change counter of reference data (units, holidays, sectors, procedures); the other rows of
/// `data_change` are keyed by unit id.
pub const REFERENCE_DATA: i64 = 0;

/// Marks, inside the writing transaction, that records of these units (or, with [`REFERENCE_DATA`], the
/// reference data) changed, so that every cache in every process can tell.
pub async fn mark_changed(
    conn: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<(), DbErr> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(500) {
        let values = chunk.iter().map(|id| format!("({id}, 1)")).collect::<Vec<_>>().join(", ");
        conn.execute_unprepared(&format!(
            "INSERT INTO data_change (id, generation) VALUES {values} \
             ON CONFLICT (id) DO UPDATE SET generation = data_change.generation + 1"
        ))
        .await?;
    }
    Ok(())
}

/// The version of a scope's data, read in one statement: the reference-data generation, which fixes the unit
/// tree and so the units of a scope, and the sum of the change counters of the scope's units and of the reference
/// data. Each counter only grows and every write bumps one, so for one reference generation (one set of units)
/// the sum grows with every write: two reads give equal versions only if nothing in the scope changed between
/// them. (The sum alone could return to an earlier value when a unit moves out of the scope.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataVersion {
    pub reference: i64,
    pub scope: i64,
}

impl std::fmt::Display for DataVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.reference, self.scope)
    }
}

/// The [`DataVersion`] of `scope`.
pub async fn data_version(
    conn: &impl ConnectionTrait,
    scope: &crate::domain::scope::Scope,
) -> Result<DataVersion, DbErr> {
    let sums = format!(
        "SELECT CAST(COALESCE(SUM(CASE WHEN id = {REFERENCE_DATA} THEN generation ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(generation), 0) AS BIGINT) FROM data_change"
    );
    let backend = conn.get_database_backend();
    let statement = if scope.whole_tree {
        Statement::from_string(backend, sums)
    } else {
        let mut ids = scope.sorted_ids();
        ids.push(REFERENCE_DATA);
        match backend {
            // One statement text whatever the scope, its ids a parameter: PostgreSQL plans it once per connection
            // (a province's few hundred ids as literals cost more to parse than the read itself).
            DbBackend::Postgres => Statement::from_sql_and_values(
                backend,
                format!("{sums} WHERE id = ANY(CAST(string_to_array($1, ',') AS BIGINT[]))"),
                [sql::id_list(&ids).into()],
            ),
            _ => Statement::from_string(backend, format!("{sums} WHERE id IN ({})", sql::id_list(&ids))),
        }
    };
    let row = conn.query_one_raw(statement).await?;
    let read = |r: QueryResult| -> Result<DataVersion, DbErr> {
        Ok(DataVersion { reference: r.try_get_by_index(0)?, scope: r.try_get_by_index(1)? })
    };
    Ok(row.map(read).transpose()?.unwrap_or_default())
}

/// Whether the database answers.
pub async fn ping(conn: &DatabaseConnection) -> bool {
    conn.ping().await.is_ok()
}
