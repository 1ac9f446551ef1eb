//! Statements over many rows: multi-row inserts of bounded size, ids reserved for rows about to be inserted,
//! and SQLite's write lock taken at the start of a transaction.

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Statement};

/// Rows per multi-row INSERT, sized so that every statement stays under SQLite's and PostgreSQL's limits on
/// bound parameters.
pub fn rows_per_insert(columns: usize) -> usize {
    (30_000 / columns.max(1)).max(1)
}

/// Inserts many rows, in statements of bounded size.
pub async fn insert_chunked<A>(conn: &impl ConnectionTrait, rows: Vec<A>, columns: usize) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    let per = rows_per_insert(columns);
    let mut rows = rows;
    while !rows.is_empty() {
        let rest = if rows.len() > per { rows.split_off(per) } else { Vec::new() };
        <A::Entity as EntityTrait>::insert_many(rows).exec_without_returning(conn).await?;
        rows = rest;
    }
    Ok(())
}

/// Reserves `n` fresh ids of `table` (whose `id` is the auto-incremented key) for rows the caller is about to
/// insert with those ids, so that it never has to read them back. On PostgreSQL they come from the table's
/// sequence; on SQLite from the largest id in use, which is safe because the caller's transaction holds the
/// database's write lock (see [`hold_write_lock`]).
pub async fn reserve_ids(conn: &impl ConnectionTrait, table: &str, n: usize) -> Result<Vec<i64>, DbErr> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    if backend == sea_orm::DbBackend::Postgres {
        let sql = format!(
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS seq) \
             SELECT nextval(s.seq) FROM s, generate_series(1, {n})"
        );
        let rows = conn.query_all_raw(Statement::from_string(backend, sql)).await?;
        return rows.iter().map(|r| r.try_get_by_index::<i64>(0)).collect();
    }
    let sql = format!(
        "SELECT MAX(COALESCE((SELECT MAX(id) FROM {table}), 0), \
         COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0))"
    );
    let row = conn.query_one_raw(Statement::from_string(backend, sql)).await?;
    let max = row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?.unwrap_or(0);
    Ok((max + 1..=max + n as i64).collect())
}

/// On SQLite, makes the caller's (deferred) transaction take the database's write lock now, with a statement
/// that writes nothing, so that no other connection writes until it ends. PostgreSQL locks rows, not the
/// database, and needs nothing.
pub async fn hold_write_lock(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if conn.get_database_backend() == sea_orm::DbBackend::Sqlite {
        conn.execute_unprepared("DELETE FROM data_change WHERE id < 0").await?;
    }
    Ok(())
}
