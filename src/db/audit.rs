//! The audit trail in the database: appending events and reading them back. The table is append-only (the
//! database refuses updates, and deletes of events younger than the minimum retention); the only delete is the
//! retention purge.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::read::Page;
use crate::domain::personal::{FieldSet, PersonalField};
use crate::domain::scope::Scope;
use crate::domain::time::Micros;
use entity::audit_event::{self, Actor, ObjectKind, Outcome};

use crate::domain::Role;

/// One audit event to append.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuditRecord {
    pub at: Micros,
    pub actor: Actor,
    pub subject: Option<String>,
    pub role: Option<Role>,
    pub actor_unit: Option<String>,
    pub operation: String,
    pub outcome: Outcome,
    pub object_kind: Option<ObjectKind>,
    pub object_code: Option<String>,
    pub unit_id: Option<i64>,
    /// The personal-data fields returned.
    pub fields: FieldSet,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

/// The longest text an event stores in one column: what clients choose (a token's `sub`, a code they asked for)
/// must neither bloat the trail nor hold characters a database refuses.
const MAX_TEXT: usize = 200;

/// `s` as stored: at most [`MAX_TEXT`] characters, without NUL (which PostgreSQL's text refuses).
fn clean(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|s| s.chars().filter(|&c| c != '\0').take(MAX_TEXT).collect())
}

impl AuditRecord {
    fn model(&self) -> audit_event::ActiveModel {
        audit_event::ActiveModel {
            id: NotSet,
            at: Set(self.at),
            actor: Set(self.actor),
            subject: Set(clean(&self.subject)),
            role: Set(self.role),
            actor_unit: Set(clean(&self.actor_unit)),
            operation: Set(clean(&Some(self.operation.clone())).unwrap_or_default()),
            outcome: Set(self.outcome),
            object_kind: Set(self.object_kind),
            object_code: Set(clean(&self.object_code)),
            unit_id: Set(self.unit_id),
            fields: Set(self.fields.bits()),
            client_addr: Set(clean(&self.client_addr)),
            request_id: Set(clean(&self.request_id)),
            detail: Set(clean(&self.detail)),
        }
    }
}

/// Why a batch of events was not appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The database did not answer: the same events may go in later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The database refused the statement: one of the events cannot go in as it is.
    #[error("the database refused the events: {0}")]
    Refused(String),
}

impl From<DbErr> for AppendError {
    fn from(e: DbErr) -> Self {
        match e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => AppendError::Unavailable(e.to_string()),
            _ => AppendError::Refused(e.to_string()),
        }
    }
}

/// Appends events (in the caller's transaction, when it has one), by statements of a few fixed sizes, so that
/// the database parses each once per connection and reuses it for every batch.
pub async fn insert(conn: &impl ConnectionTrait, records: &[AuditRecord]) -> Result<(), DbErr> {
    let mut rest = records;
    for size in [64, 8, 1] {
        while rest.len() >= size {
            let (chunk, tail) = rest.split_at(size);
            audit_event::Entity::insert_many(chunk.iter().map(AuditRecord::model))
                .exec_without_returning(conn)
                .await?;
            rest = tail;
        }
    }
    Ok(())
}

/// Appends a batch of events as one unit of work: on PostgreSQL by `COPY` (the cheapest way in: no statement to
/// parse and plan), elsewhere in one transaction.
pub async fn append(db: &sea_orm::DatabaseConnection, records: &[AuditRecord]) -> Result<(), AppendError> {
    use sea_orm::TransactionTrait;
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        return copy(db.get_postgres_connection_pool(), records).await;
    }
    let txn = db.begin().await?;
    insert(&txn, records).await?;
    Ok(txn.commit().await?)
}

/// `COPY … FROM STDIN` of `records`, in PostgreSQL's text format.
async fn copy(pool: &sea_orm::sqlx::PgPool, records: &[AuditRecord]) -> Result<(), AppendError> {
    use sea_orm::ActiveEnum;
    use sea_orm::sqlx::postgres::PgPoolCopyExt;
    fn field(out: &mut String, v: Option<&str>) {
        match v {
            None => out.push_str("\\N"),
            Some(s) => {
                for c in s.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\t' => out.push_str("\\t"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
            }
        }
    }
    let mut text = String::with_capacity(records.len() * 160);
    for r in records {
        let columns = [
            Some(r.at.to_string()),
            Some(r.actor.to_value()),
            clean(&r.subject),
            r.role.map(|role| role.as_str().to_owned()),
            clean(&r.actor_unit),
            clean(&Some(r.operation.clone())),
            Some(r.outcome.to_value()),
            r.object_kind.map(|k| k.to_value()),
            clean(&r.object_code),
            r.unit_id.map(|u| u.to_string()),
            Some(r.fields.bits().to_string()),
            clean(&r.client_addr),
            clean(&r.request_id),
            clean(&r.detail),
        ];
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                text.push('\t');
            }
            field(&mut text, c.as_deref());
        }
        text.push('\n');
    }
    let fail = |e: sea_orm::sqlx::Error| match e {
        sea_orm::sqlx::Error::Database(_) => AppendError::Refused(e.to_string()),
        other => AppendError::Unavailable(other.to_string()),
    };
    let mut copy = pool
        .copy_in_raw(
            "COPY audit_event (at, actor, subject, role, actor_unit, operation, outcome, object_kind, object_code, \
             unit_id, fields, client_addr, request_id, detail) FROM STDIN",
        )
        .await
        .map_err(fail)?;
    copy.send(text.as_bytes()).await.map_err(fail)?;
    copy.finish().await.map_err(fail)?;
    Ok(())
}

/// Filters of the audit trail. Strings match exactly.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Any of these subjects (a citizen's identity number is matched through its keyed hash).
    pub subjects: Vec<String>,
    pub object_code: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<Outcome>,
    /// At or after.
    pub from: Option<Micros>,
    /// Before.
    pub to: Option<Micros>,
}

/// The events filed under the units of `scope` that pass `f` (see [`audit_event::Model::unit_id`]).
fn filtered(scope: Option<&Scope>, f: &AuditFilter) -> sea_orm::Select<audit_event::Entity> {
    let mut q = audit_event::Entity::find();
    if let Some(s) = scope.filter(|s| !s.whole_tree) {
        q = q.filter(audit_event::Column::UnitId.is_in(s.sorted_ids()));
    }
    if !f.subjects.is_empty() {
        q = q.filter(audit_event::Column::Subject.is_in(f.subjects.clone()));
    }
    if let Some(c) = &f.object_code {
        q = q.filter(audit_event::Column::ObjectCode.eq(c.clone()));
    }
    if let Some(o) = &f.operation {
        q = q.filter(audit_event::Column::Operation.eq(o.clone()));
    }
    if let Some(o) = f.outcome {
        q = q.filter(audit_event::Column::Outcome.eq(o));
    }
    if let Some(t) = f.from {
        q = q.filter(audit_event::Column::At.gte(t));
    }
    if let Some(t) = f.to {
        q = q.filter(audit_event::Column::At.lt(t));
    }
    q
}

/// Events of `scope` passing `f`, newest first, `first` at a time after the cursor id `after`.
pub async fn events(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    f: &AuditFilter,
    first: u64,
    after: Option<i64>,
) -> Result<Page<audit_event::Model>, DbErr> {
    let mut q = filtered(Some(scope), f);
    if let Some(a) = after {
        q = q.filter(audit_event::Column::Id.lt(a));
    }
    let mut items = q.order_by_desc(audit_event::Column::Id).limit(first + 1).all(conn).await?;
    let has_next = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok(Page { items, has_next })
}

/// Events of `scope` (every event without one) passing `f`, oldest first, `n` after the id `after` (for exports).
pub async fn events_after(
    conn: &impl ConnectionTrait,
    scope: Option<&Scope>,
    f: &AuditFilter,
    after: i64,
    n: u64,
) -> Result<Vec<audit_event::Model>, DbErr> {
    filtered(scope, f)
        .filter(audit_event::Column::Id.gt(after))
        .order_by_asc(audit_event::Column::Id)
        .limit(n)
        .all(conn)
        .await
}

/// Deletes the events older than `before` (the retention purge); returns how many went.
pub async fn purge(conn: &impl ConnectionTrait, before: Micros) -> Result<u64, DbErr> {
    let r = audit_event::Entity::delete_many()
        .filter(Expr::col(audit_event::Column::At).lt(before))
        .exec(conn)
        .await?;
    Ok(r.rows_affected)
}

/// The object of an audited access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: ObjectKind,
    pub code: String,
    /// The unit it belongs to, when known.
    pub unit_id: Option<i64>,
}

impl ObjectRef {
    pub fn dossier(d: &entity::dossier::Model) -> Self {
        ObjectRef { kind: ObjectKind::Dossier, code: d.code.to_string(), unit_id: Some(d.unit_id) }
    }

    pub fn feedback(f: &entity::feedback::Model) -> Self {
        ObjectRef { kind: ObjectKind::Feedback, code: f.code.clone(), unit_id: Some(f.unit_id) }
    }

    /// A receipt, keyed `series/number`, belonging to its dossier's unit.
    pub fn receipt(r: &entity::receipt::Model, unit_id: Option<i64>) -> Self {
        ObjectRef { kind: ObjectKind::Receipt, code: format!("{}/{}", r.series, r.number), unit_id }
    }
}

/// Who acts, from where, in which operation: everything of an audit event but what happened to which object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub actor: Actor,
    pub subject: Option<String>,
    pub role: Option<Role>,
    pub actor_unit: Option<String>,
    pub actor_unit_id: Option<i64>,
    pub operation: String,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
}

impl Stamp {
    /// The event of `outcome` on `object` at `at`.
    pub fn record(&self, at: Micros, outcome: Outcome, object: Option<&ObjectRef>) -> AuditRecord {
        AuditRecord {
            at,
            actor: self.actor,
            subject: self.subject.clone(),
            role: self.role,
            actor_unit: self.actor_unit.clone(),
            operation: self.operation.clone(),
            outcome,
            object_kind: object.map(|o| o.kind),
            object_code: object.map(|o| o.code.clone()),
            unit_id: match object {
                Some(o) => o.unit_id,
                None => self.actor_unit_id,
            },
            fields: FieldSet::default(),
            client_addr: self.client_addr.clone(),
            request_id: self.request_id.clone(),
            detail: None,
        }
    }
}

/// The personal-data fields an event lists.
pub fn fields(e: &audit_event::Model) -> Result<Vec<PersonalField>, DbErr> {
    FieldSet::from_bits(e.fields)
        .map(FieldSet::fields)
        .map_err(|u| DbErr::Type(format!("audit event {}: {u}", e.id)))
}
