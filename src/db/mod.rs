//! Persistence: connecting, migrating, and the queries the rest of the gateway needs. Entity models are turned
//! into domain values here; nothing above this layer sees sea-orm.

pub mod convert;
pub mod indicators;
pub mod lifecycle;
pub mod read;
pub mod write;

use std::time::Duration;

use migration::sea_orm_migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryOrder,
    Statement,
};

use crate::domain::scope::{UnitInfo, UnitTree};
use crate::domain::time::Calendar;

/// Opens a connection pool. For SQLite the file's folder is created and write-ahead logging switched on;
/// `schema` (PostgreSQL only) confines the pool to one schema, as tests do.
pub async fn connect(url: &str, schema: Option<&str>) -> Result<DatabaseConnection, DbErr> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        if let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
        }
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .max_connections(16)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .create_if_missing(true)
        });
    if let Some(schema) = schema {
        opts.set_schema_search_path(schema.to_owned());
    }
    Database::connect(opts).await
}

/// Applies pending migrations and makes sure the change counter exists.
pub async fn migrate(conn: &DatabaseConnection) -> Result<(), DbErr> {
    migration::Migrator::up(conn, None).await?;
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "INSERT INTO data_change (id, generation) VALUES (0, 0) ON CONFLICT (id) DO NOTHING"
        }
        _ => "INSERT OR IGNORE INTO data_change (id, generation) VALUES (0, 0)",
    };
    conn.execute_unprepared(sql).await?;
    Ok(())
}

/// Every unit, as the domain's tree.
pub async fn load_units(conn: &impl ConnectionTrait) -> Result<UnitTree, DbErr> {
    let rows = entity::unit::Entity::find().order_by_asc(entity::unit::Column::Id).all(conn).await?;
    Ok(UnitTree::new(rows.into_iter().filter_map(|m| convert::unit_info(m).ok()).collect()))
}

/// The holiday calendar.
pub async fn load_calendar(conn: &impl ConnectionTrait) -> Result<Calendar, DbErr> {
    let rows = entity::holiday::Entity::find().all(conn).await?;
    Ok(Calendar::new(rows.into_iter().map(|h| h.date)))
}

/// Marks that data changed, inside the writing transaction, so that every cache can tell.
pub async fn bump_generation(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    conn.execute_unprepared("UPDATE data_change SET generation = generation + 1 WHERE id = 0").await?;
    Ok(())
}

/// The current data generation.
pub async fn generation(conn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT generation FROM data_change WHERE id = 0",
        ))
        .await?;
    Ok(row.and_then(|r| r.try_get_by_index::<i64>(0).ok()).unwrap_or(0))
}

/// Whether the database answers.
pub async fn ping(conn: &DatabaseConnection) -> bool {
    conn.ping().await.is_ok()
}

/// A unit as a domain value.
pub fn unit_from_model(m: entity::unit::Model) -> Option<UnitInfo> {
    convert::unit_info(m).ok()
}
