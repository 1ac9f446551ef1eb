//! Reads behind the API, always filtered by a [`ReadScope`] the service layer decided. An object outside it is
//! simply not found, exactly like a missing one.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PartialModelTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::domain::scope::Scope;
use crate::domain::time::{Micros, to_micros};
use crate::domain::*;

use entity::{dossier, feedback, procedure, receipt};

/// The records a read may return, as plain data (the service layer decides it from the caller and the policy).
#[derive(Debug, Clone)]
pub enum ReadScope {
    /// Nothing personal.
    Nothing,
    /// Dossiers whose applicant has this identity-number hash, and what hangs on them (a citizen's own).
    Applicant(String),
    /// Records of these units; for a ministry also the dossiers of the procedures it announces.
    Units(Scope, Announcer),
}

impl ReadScope {
    /// Whether records of `unit_id` are in a staff scope.
    pub fn covers_unit(&self, unit_id: i64) -> bool {
        matches!(self, ReadScope::Units(s, _) if s.contains(unit_id))
    }

    /// Whether this scope holds `d` (read without a scope), as a read filtered by [`ReadScope::dossiers`] would
    /// tell.
    pub fn admits_dossier(&self, d: Option<dossier::Model>) -> Admitted {
        let Some(d) = d else { return Admitted::No };
        let admitted = match self {
            ReadScope::Nothing => false,
            ReadScope::Applicant(h) => d.applicant_id_hash == *h,
            ReadScope::Units(s, _) if s.whole_tree => true,
            ReadScope::Units(s, Announcer::OwnUnitsOnly) => s.contains(d.unit_id),
            ReadScope::Units(s, Announcer::Ministry) if s.contains(d.unit_id) => true,
            ReadScope::Units(_, Announcer::Ministry) => return Admitted::AskTheDatabase,
        };
        if admitted { Admitted::Yes(Box::new(d)) } else { Admitted::No }
    }

    /// The condition on `dossier` rows.
    pub fn dossiers(&self) -> Condition {
        match self {
            ReadScope::Nothing => Condition::all().add(Expr::val(1).eq(0)),
            ReadScope::Applicant(h) => Condition::all().add(dossier::Column::ApplicantIdHash.eq(h.clone())),
            ReadScope::Units(s, _) if s.whole_tree => Condition::all(),
            ReadScope::Units(s, Announcer::OwnUnitsOnly) => {
                Condition::all().add(dossier::Column::UnitId.is_in(s.sorted_ids()))
            }
            ReadScope::Units(s, Announcer::Ministry) => {
                let ids = s.sorted_ids();
                Condition::any().add(dossier::Column::UnitId.is_in(ids.clone())).add(
                    dossier::Column::ProcedureId.in_subquery(
                        Query::select()
                            .column(procedure::Column::Id)
                            .from(procedure::Entity)
                            .and_where(procedure::Column::AuthorityId.is_in(ids))
                            .to_owned(),
                    ),
                )
            }
        }
    }

    /// The condition on `receipt` rows: receipts of visible dossiers.
    pub fn receipts(&self) -> Condition {
        Condition::all().add(receipt::Column::DossierId.in_subquery(self.dossier_ids()))
    }

    /// The condition on `feedback` rows: feedback of the scope's units, or on visible dossiers.
    pub fn feedback(&self) -> Condition {
        match self {
            ReadScope::Nothing => Condition::all().add(Expr::val(1).eq(0)),
            ReadScope::Applicant(_) => {
                Condition::all().add(feedback::Column::DossierId.in_subquery(self.dossier_ids()))
            }
            ReadScope::Units(s, _) if s.whole_tree => Condition::all(),
            ReadScope::Units(s, _) => Condition::any()
                .add(feedback::Column::UnitId.is_in(s.sorted_ids()))
                .add(feedback::Column::DossierId.in_subquery(self.dossier_ids())),
        }
    }

    fn dossier_ids(&self) -> sea_orm::sea_query::SelectStatement {
        Query::select()
            .column(dossier::Column::Id)
            .from(dossier::Entity)
            .cond_where(self.dossiers())
            .to_owned()
    }
}

/// Whether a scope holds a record read without one.
pub enum Admitted {
    Yes(Box<dossier::Model>),
    No,
    /// Only the database can tell: a ministry's scope holds the dossiers of the procedures it announces.
    AskTheDatabase,
}

/// Whether a staff scope also covers the dossiers of the procedures its units announce (ministries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcer {
    Ministry,
    OwnUnitsOnly,
}

/// Filters of the `dossiers` list (besides the units, which the service resolves).
#[derive(Debug, Clone, Default)]
pub struct DossierFilter {
    pub procedure_code: Option<String>,
    pub sector_code: Option<String>,
    pub status: Option<DossierStatus>,
    pub channel: Option<Channel>,
    pub received_from: Option<DateTime<FixedOffset>>,
    pub received_to: Option<DateTime<FixedOffset>>,
    /// Still open and past its due time (true), or not (false).
    pub overdue: Option<bool>,
}

/// One page of a keyset-paginated list, newest first.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
}

fn open_condition() -> Condition {
    Condition::all()
        .add(dossier::Column::ResolvedAt.is_null())
        .add(dossier::Column::OtherEndAt.is_null())
        .add(dossier::Column::NotAcceptedAt.is_null())
}

/// Lists dossiers visible to the caller, newest first, `first` at a time after the cursor id `after`.
pub async fn dossiers(
    conn: &impl ConnectionTrait,
    scope: &ReadScope,
    units: Option<&Scope>,
    f: &DossierFilter,
    now: Micros,
    first: u64,
    after: Option<i64>,
) -> Result<Page<dossier::Model>, DbErr> {
    let mut q = dossier::Entity::find().filter(scope.dossiers());
    if let Some(units) = units.filter(|u| !u.whole_tree) {
        q = q.filter(dossier::Column::UnitId.is_in(units.sorted_ids()));
    }
    if let Some(code) = &f.procedure_code {
        q = q.filter(
            dossier::Column::ProcedureId.in_subquery(
                Query::select()
                    .column(procedure::Column::Id)
                    .from(procedure::Entity)
                    .and_where(procedure::Column::Code.eq(code.clone()))
                    .to_owned(),
            ),
        );
    }
    if let Some(code) = &f.sector_code {
        q = q.filter(
            dossier::Column::ProcedureId.in_subquery(
                Query::select()
                    .column(procedure::Column::Id)
                    .from(procedure::Entity)
                    .and_where(
                        procedure::Column::SectorId.in_subquery(
                            Query::select()
                                .column(entity::sector::Column::Id)
                                .from(entity::sector::Entity)
                                .and_where(entity::sector::Column::Code.eq(code.clone()))
                                .to_owned(),
                        ),
                    )
                    .to_owned(),
            ),
        );
    }
    if let Some(s) = f.status {
        q = q.filter(dossier::Column::Status.eq(s));
    }
    if let Some(c) = f.channel {
        q = q.filter(dossier::Column::Channel.eq(c));
    }
    if let Some(t) = f.received_from {
        q = q.filter(dossier::Column::ReceivedAt.gte(to_micros(t)));
    }
    if let Some(t) = f.received_to {
        q = q.filter(dossier::Column::ReceivedAt.lt(to_micros(t)));
    }
    match f.overdue {
        Some(true) => q = q.filter(open_condition().add(dossier::Column::DueAt.lt(now))),
        Some(false) => q = q.filter(open_condition().add(dossier::Column::DueAt.lt(now)).not()),
        None => {}
    }
    if let Some(a) = after {
        q = q.filter(dossier::Column::Id.lt(a));
    }
    let mut items = q.order_by_desc(dossier::Column::Id).limit(first + 1).all(conn).await?;
    let has_next = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok(Page { items, has_next })
}

/// One dossier by code, if visible.
pub async fn dossier(
    conn: &impl ConnectionTrait,
    scope: &ReadScope,
    code: &DossierCode,
) -> Result<Option<dossier::Model>, DbErr> {
    dossier::Entity::find()
        .filter(scope.dossiers())
        .filter(dossier::Column::Code.eq(code.as_str()))
        .one(conn)
        .await
}

/// The dossiers of `codes` as rows of shape `M` (the whole row, or the columns a partial model names), by code,
/// whoever asks (for the lookups of [`crate::app::App`]).
pub async fn dossiers_by_code<M>(
    conn: &impl ConnectionTrait,
    codes: Vec<DossierCode>,
) -> Result<HashMap<DossierCode, M>, DbErr>
where
    M: PartialModelTrait + dossier::Coded + Send + Sync,
{
    let rows = dossier::Entity::find()
        .filter(dossier::Column::Code.is_in(codes))
        .into_partial_model::<M>()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|d| (d.code().clone(), d)).collect())
}

/// Filters of the receipts list.
#[derive(Debug, Clone, Default)]
pub struct ReceiptFilter {
    pub dossier_code: Option<DossierCode>,
    pub series: Option<String>,
    pub status: Option<ReceiptStatus>,
}

pub async fn receipts(
    conn: &impl ConnectionTrait,
    scope: &ReadScope,
    f: &ReceiptFilter,
    first: u64,
    after: Option<i64>,
) -> Result<Page<receipt::Model>, DbErr> {
    let mut q = receipt::Entity::find().filter(scope.receipts());
    if let Some(code) = &f.dossier_code {
        q = q.filter(
            receipt::Column::DossierId.in_subquery(
                Query::select()
                    .column(dossier::Column::Id)
                    .from(dossier::Entity)
                    .and_where(dossier::Column::Code.eq(code.clone()))
                    .to_owned(),
            ),
        );
    }
    if let Some(s) = &f.series {
        q = q.filter(receipt::Column::Series.eq(s.clone()));
    }
    if let Some(s) = f.status {
        q = q.filter(receipt::Column::Status.eq(s));
    }
    if let Some(a) = after {
        q = q.filter(receipt::Column::Id.lt(a));
    }
    let mut items = q.order_by_desc(receipt::Column::Id).limit(first + 1).all(conn).await?;
    let has_next = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok(Page { items, has_next })
}

pub async fn receipt(
    conn: &impl ConnectionTrait,
    scope: &ReadScope,
    series: &str,
    number: i64,
) -> Result<Option<receipt::Model>, DbErr> {
    receipt::Entity::find()
        .filter(scope.receipts())
        .filter(receipt::Column::Series.eq(series))
        .filter(receipt::Column::Number.eq(number))
        .one(conn)
        .await
}

/// Filters of the feedback list (besides the units, which the service resolves).
#[derive(Debug, Clone, Default)]
pub struct FeedbackFilter {
    pub dossier_code: Option<DossierCode>,
    pub kind: Option<FeedbackKind>,
    /// Only unanswered (true) or answered (false).
    pub open: Option<bool>,
}

pub async fn feedbacks(
    conn: &impl ConnectionTrait,
    scope: &ReadScope,
    units: Option<&Scope>,
    f: &FeedbackFilter,
    first: u64,
    after: Option<i64>,
) -> Result<Page<feedback::Model>, DbErr> {
    let mut q = feedback::Entity::find().filter(scope.feedback());
    if let Some(units) = units.filter(|u| !u.whole_tree) {
        q = q.filter(feedback::Column::UnitId.is_in(units.sorted_ids()));
    }
    if let Some(code) = &f.dossier_code {
        // Only a dossier of the scope: a feedback of the scope about a dossier outside it must not tell that the
        // dossier exists.
        q = q.filter(
            feedback::Column::DossierId.in_subquery(
                Query::select()
                    .column(dossier::Column::Id)
                    .from(dossier::Entity)
                    .and_where(dossier::Column::Code.eq(code.clone()))
                    .cond_where(scope.dossiers())
                    .to_owned(),
            ),
        );
    }
    if let Some(k) = f.kind {
        q = q.filter(feedback::Column::Kind.eq(k));
    }
    match f.open {
        Some(true) => q = q.filter(feedback::Column::AnsweredAt.is_null()),
        Some(false) => q = q.filter(feedback::Column::AnsweredAt.is_not_null()),
        None => {}
    }
    if let Some(a) = after {
        q = q.filter(feedback::Column::Id.lt(a));
    }
    let mut items = q.order_by_desc(feedback::Column::Id).limit(first + 1).all(conn).await?;
    let has_next = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok(Page { items, has_next })
}

pub async fn feedback(
    conn: &impl ConnectionTrait,
    scope: &ReadScope,
    code: &str,
) -> Result<Option<feedback::Model>, DbErr> {
    feedback::Entity::find().filter(scope.feedback()).filter(feedback::Column::Code.eq(code)).one(conn).await
}

/// Filters of the procedure catalog (besides the announcing authority, which the service resolves).
#[derive(Debug, Clone, Default)]
pub struct ProcedureFilter {
    pub sector_code: Option<String>,
    pub level: Option<ProcedureLevel>,
    pub online_level: Option<OnlineLevel>,
    /// Case-sensitive part of the name or code.
    pub search: Option<String>,
    pub include_abolished: bool,
}

/// The catalog; `authority_id` (`-1` for an unknown code) keeps the procedures one unit announced.
pub async fn procedures(
    conn: &impl ConnectionTrait,
    authority_id: Option<i64>,
    f: &ProcedureFilter,
    first: u64,
    after: Option<i64>,
) -> Result<Page<procedure::Model>, DbErr> {
    let mut q = procedure::Entity::find();
    if let Some(code) = &f.sector_code {
        q = q.filter(
            procedure::Column::SectorId.in_subquery(
                Query::select()
                    .column(entity::sector::Column::Id)
                    .from(entity::sector::Entity)
                    .and_where(entity::sector::Column::Code.eq(code.clone()))
                    .to_owned(),
            ),
        );
    }
    if let Some(id) = authority_id {
        q = q.filter(procedure::Column::AuthorityId.eq(id));
    }
    if let Some(l) = f.level {
        q = q.filter(procedure::Column::Level.eq(l));
    }
    if let Some(l) = f.online_level {
        q = q.filter(procedure::Column::OnlineLevel.eq(l));
    }
    if let Some(s) = &f.search {
        use crate::domain::search::{ESCAPE, contains_pattern};
        let pattern = sea_orm::sea_query::LikeExpr::new(contains_pattern(s)).escape(ESCAPE);
        q = q.filter(procedure::Column::SearchText.like(pattern));
    }
    if !f.include_abolished {
        q = q.filter(procedure::Column::Status.eq(ProcedureStatus::Published));
    }
    if let Some(a) = after {
        q = q.filter(procedure::Column::Id.gt(a));
    }
    let mut items = q.order_by_asc(procedure::Column::Id).limit(first + 1).all(conn).await?;
    let has_next = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok(Page { items, has_next })
}

pub async fn procedure_by_code(
    conn: &impl ConnectionTrait,
    code: &str,
) -> Result<Option<procedure::Model>, DbErr> {
    procedure::Entity::find().filter(procedure::Column::Code.eq(code)).one(conn).await
}

pub async fn sectors(conn: &impl ConnectionTrait) -> Result<Vec<entity::sector::Model>, DbErr> {
    entity::sector::Entity::find().order_by_asc(entity::sector::Column::Code).all(conn).await
}

/// Rows of `E` by id, in the order of `ids`.
async fn by_ids<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    ids: &[i64],
    column: E::Column,
    id_of: impl Fn(&E::Model) -> i64,
) -> Result<Vec<E::Model>, DbErr> {
    let rows = E::find().filter(column.is_in(ids.iter().copied())).all(conn).await?;
    let mut by: std::collections::HashMap<i64, E::Model> = rows.into_iter().map(|m| (id_of(&m), m)).collect();
    Ok(ids.iter().filter_map(|id| by.remove(id)).collect())
}

/// The codes of the dossiers among `ids` that `scope` covers.
pub async fn dossier_codes_in(
    conn: &impl ConnectionTrait,
    scope: &ReadScope,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, DossierCode>, DbErr> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(i64, DossierCode)> = dossier::Entity::find()
            .select_only()
            .columns([dossier::Column::Id, dossier::Column::Code])
            .filter(scope.dossiers())
            .filter(dossier::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// The unit a dossier, receipt (`series/number`), feedback or unit with this key belongs to, if it exists at all
/// (to tell a refused access from a miss in the audit trail, and file it under the object's unit; the caller is
/// told neither).
pub async fn owner_unit(
    conn: &impl ConnectionTrait,
    kind: entity::audit_event::ObjectKind,
    code: &str,
) -> Result<Option<i64>, DbErr> {
    use entity::audit_event::ObjectKind;
    Ok(match kind {
        ObjectKind::Dossier => {
            dossier::Entity::find().filter(dossier::Column::Code.eq(code)).one(conn).await?.map(|d| d.unit_id)
        }
        ObjectKind::Feedback => feedback::Entity::find()
            .filter(feedback::Column::Code.eq(code))
            .one(conn)
            .await?
            .map(|f| f.unit_id),
        ObjectKind::Receipt => {
            let Some((series, number)) = code.rsplit_once('/') else { return Ok(None) };
            let Ok(number) = number.parse::<i64>() else { return Ok(None) };
            let r = receipt::Entity::find()
                .filter(receipt::Column::Series.eq(series))
                .filter(receipt::Column::Number.eq(number))
                .one(conn)
                .await?;
            match r {
                Some(r) => dossier::Entity::find_by_id(r.dossier_id).one(conn).await?.map(|d| d.unit_id),
                None => None,
            }
        }
        ObjectKind::Unit => entity::unit::Entity::find()
            .filter(entity::unit::Column::Code.eq(code))
            .one(conn)
            .await?
            .map(|u| u.id),
    })
}

/// Dossiers by id, in the order of `ids`.
pub async fn dossiers_by_ids(conn: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<dossier::Model>, DbErr> {
    by_ids::<dossier::Entity>(conn, ids, dossier::Column::Id, |d| d.id).await
}

/// Feedback by id, in the order of `ids`.
pub async fn feedback_by_ids(
    conn: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<Vec<feedback::Model>, DbErr> {
    by_ids::<feedback::Entity>(conn, ids, feedback::Column::Id, |f| f.id).await
}

/// Procedures by id, in the order of `ids`.
pub async fn procedures_by_ids(
    conn: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<Vec<procedure::Model>, DbErr> {
    by_ids::<procedure::Entity>(conn, ids, procedure::Column::Id, |p| p.id).await
}

/// A sector's id by code.
pub async fn sector_id(conn: &impl ConnectionTrait, code: &str) -> Result<Option<i64>, DbErr> {
    Ok(entity::sector::Entity::find()
        .filter(entity::sector::Column::Code.eq(code))
        .one(conn)
        .await?
        .map(|s| s.id))
}
