//! Statements over many rows: multi-row inserts of bounded size, ids reserved for rows about to be inserted,
//! and SQLite's write lock taken at the start of a transaction.

use std::fmt::Write as _;

use sea_orm::sea_query::{PostgresQueryBuilder, TableBuilder, Value};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait,
    IdenStatic, Iterable, Statement,
};

/// Rows per multi-row INSERT, sized so that every statement stays under SQLite's and PostgreSQL's limits on
/// bound parameters.
pub fn rows_per_insert(columns: usize) -> usize {
    (30_000 / columns.max(1)).max(1)
}

/// From this many rows, PostgreSQL is sent one array a column ([`arrays_insert`]) rather than one parameter a
/// value.
const ARRAYS_FROM: usize = 16;

/// Rows per statement of [`arrays_insert`]: bounds the text held at once, not the statement's parameters.
const ROWS_PER_ARRAYS: usize = 10_000;

/// Inserts many rows, in statements of bounded size.
pub async fn insert_chunked<A>(conn: &impl ConnectionTrait, rows: Vec<A>, columns: usize) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    let mut rows = rows;
    if conn.get_database_backend() == DbBackend::Postgres && rows.len() >= ARRAYS_FROM {
        while !rows.is_empty() {
            let rest =
                if rows.len() > ROWS_PER_ARRAYS { rows.split_off(ROWS_PER_ARRAYS) } else { Vec::new() };
            if let Some(sql) = arrays_insert(&rows) {
                conn.execute_raw(sql).await?;
            } else {
                insert_values(conn, rows, columns).await?;
            }
            rows = rest;
        }
        return Ok(());
    }
    insert_values(conn, rows, columns).await
}

/// Inserts rows as a multi-row `VALUES` list, one parameter a value.
async fn insert_values<A>(conn: &impl ConnectionTrait, mut rows: Vec<A>, columns: usize) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    let per = rows_per_insert(columns);
    while !rows.is_empty() {
        let rest = if rows.len() > per { rows.split_off(per) } else { Vec::new() };
        <A::Entity as EntityTrait>::insert_many(rows).exec_without_returning(conn).await?;
        rows = rest;
    }
    Ok(())
}

/// PostgreSQL's `INSERT INTO t (c, …) SELECT * FROM unnest($1::type[], …)` of `rows`: one parameter a column, the
/// text of an array literal, which the server reads about as fast as `COPY` reads its rows, instead of one
/// parameter a value (tens of thousands of them to parse, plan and bind). The element types are those of the
/// entity's columns. `None` when the rows do not all set the same columns or a value has no array text here; the
/// caller then inserts them the usual way.
fn arrays_insert<A: ActiveModelTrait>(rows: &[A]) -> Option<Statement> {
    let first = rows.first()?;
    let all = || <A::Entity as EntityTrait>::Column::iter();
    let columns: Vec<_> = all().filter(|&c| !first.is_not_set(c)).collect();
    if columns.is_empty() || rows.iter().any(|r| all().any(|c| r.is_not_set(c) != first.is_not_set(c))) {
        return None;
    }
    let mut sql = format!("INSERT INTO \"{}\" (", <A::Entity as Default>::default().table_name());
    for (i, c) in columns.iter().enumerate() {
        let _ = write!(sql, "{}\"{}\"", if i > 0 { ", " } else { "" }, c.as_str());
    }
    sql.push_str(") SELECT * FROM unnest(");
    let mut values = Vec::with_capacity(columns.len());
    for (i, &c) in columns.iter().enumerate() {
        let _ = write!(sql, "{}${}::", if i > 0 { ", " } else { "" }, i + 1);
        PostgresQueryBuilder.prepare_column_type(c.def().get_column_type(), &mut sql);
        sql.push_str("[]");
        let column = array_literal(rows, |row, out| match row.get(c) {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => array_element(&v, out),
            ActiveValue::NotSet => None,
        })?;
        values.push(Value::String(Some(column)));
    }
    sql.push(')');
    Some(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
}

/// A PostgreSQL `text[]` parameter: the text of an array literal of `items` (the statement casts it: `$1::text[]`).
pub fn text_array<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::String(array_literal(items, |s, out| {
        quoted(s, out);
        Some(())
    }))
}

/// A PostgreSQL `bigint[]` parameter: the text of an array literal of `items` (cast it: `$1::bigint[]`).
pub fn int_array(items: impl IntoIterator<Item = i64>) -> Value {
    Value::String(array_literal(items, |n, out| write!(out, "{n}").ok()))
}

/// `{a,b,…}`, each element written by `element`; `None` as soon as one cannot be.
fn array_literal<T>(
    items: impl IntoIterator<Item = T>,
    mut element: impl FnMut(T, &mut String) -> Option<()>,
) -> Option<String> {
    let mut out = String::from("{");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        element(item, &mut out)?;
    }
    out.push('}');
    Some(out)
}

/// `s` as a quoted element of an array literal.
fn quoted(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

/// Appends `v` as an element of a PostgreSQL array literal; `None` for a kind of value this does not write.
fn array_element(v: &Value, out: &mut String) -> Option<()> {
    macro_rules! plain {
        ($x:expr) => {
            match $x {
                Some(x) => {
                    let _ = write!(out, "{x}");
                }
                None => out.push_str("NULL"),
            }
        };
    }
    match v {
        Value::Bool(b) => out.push_str(match b {
            Some(true) => "t",
            Some(false) => "f",
            None => "NULL",
        }),
        Value::TinyInt(x) => plain!(x),
        Value::SmallInt(x) => plain!(x),
        Value::Int(x) => plain!(x),
        Value::BigInt(x) => plain!(x),
        Value::TinyUnsigned(x) => plain!(x),
        Value::SmallUnsigned(x) => plain!(x),
        Value::Unsigned(x) => plain!(x),
        Value::BigUnsigned(x) => plain!(x),
        // Rust writes the shortest text that reads back as the same number; PostgreSQL reads it exactly.
        Value::Float(Some(x)) if x.is_finite() => plain!(Some(x)),
        Value::Double(Some(x)) if x.is_finite() => plain!(Some(x)),
        Value::Float(None) | Value::Double(None) => out.push_str("NULL"),
        Value::String(s) => match s {
            Some(s) => quoted(s, out),
            None => out.push_str("NULL"),
        },
        Value::Char(c) => match c {
            Some(c) => quoted(c.encode_utf8(&mut [0; 4]), out),
            None => out.push_str("NULL"),
        },
        Value::Json(j) => match j {
            Some(j) => quoted(&j.to_string(), out),
            None => out.push_str("NULL"),
        },
        _ => return None,
    }
    Some(())
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
