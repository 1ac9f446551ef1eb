//! The service layer: every access decision, between the GraphQL resolvers and persistence.
//!
//! A resolver parses its input, calls one function of a [`Service`] and maps the result. The service looks the
//! operation up in the [`policy`] table, decides the records the caller may reach at one instant (a citizen's own,
//! a staff scope), hands persistence that decision as plain data ([`ReadScope`]), and records in the audit trail
//! what the table says is audited: every personal-data field returned, every accepted write (inside the write's
//! transaction), every refusal.

pub mod error;
pub mod policy;

pub mod audit;
mod catalog;
mod dossiers;
mod feedback;
mod indicators;
mod receipts;

use std::sync::Arc;

pub use audit::AuditQuery;
pub use error::ApiError;
pub use feedback::FeedbackView;
pub use indicators::DrillArgs;
pub use receipts::ReceiptView;

use crate::app::App;
use crate::auth::Caller;
use crate::db::audit::{ObjectRef, Stamp};
use crate::db::lifecycle::{WriteError, Writer};
use crate::db::read::{Announcer, ReadScope};
use crate::domain::UnitLevel;
use crate::domain::scope::UnitTree;
use crate::domain::time::{Micros, now};
use entity::audit_event::{Actor, ObjectKind, Outcome};
use policy::{Access, Operation, PersonalField, Who};

/// Where a request comes from, as the transport tells it (HTTP or WebSocket); absent in process.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    /// When the caller's token stops being valid (a WebSocket connection outlives its requests).
    pub expires_at: Option<Micros>,
}

/// One caller's view of the gateway for one request.
#[derive(Clone, Copy)]
pub struct Service<'a> {
    pub app: &'a App,
    pub caller: &'a Caller,
    pub meta: &'a RequestMeta,
}

/// What the policy granted for one operation: the records reachable, decided at `now`.
pub struct Grant {
    pub access: Access,
    pub scope: ReadScope,
    pub now: Micros,
    pub tree: Arc<UnitTree>,
}

/// A page request: how many, after which cursor id.
#[derive(Debug, Clone, Copy)]
pub struct PageArgs {
    pub first: u64,
    pub after: Option<i64>,
}

impl<'a> Service<'a> {
    pub fn new(app: &'a App, caller: &'a Caller, meta: &'a RequestMeta) -> Self {
        Service { app, caller, meta }
    }

    fn who(&self) -> Who {
        Who::of(self.caller)
    }

    /// Who acts, for the audit events of `operation`.
    pub fn stamp(&self, operation: &str, tree: Option<&UnitTree>) -> Stamp {
        let (actor, subject, unit) = match self.caller {
            Caller::Anonymous => (Actor::Anonymous, None, None),
            // A citizen's subject is their identity number: the trail keeps its keyed hash, the one their dossiers
            // are matched by.
            Caller::Citizen { sub } => (Actor::Citizen, Some(self.app.vault.hash(sub)), None),
            Caller::Staff { sub, unit, .. } => (Actor::Staff, Some(sub.clone()), Some(unit.clone())),
        };
        Stamp {
            actor,
            subject,
            role: self.caller.role(),
            actor_unit_id: unit.as_deref().and_then(|u| tree.and_then(|t| t.get(u)).map(|u| u.id)),
            actor_unit: unit,
            operation: operation.to_owned(),
            client_addr: self.meta.client_addr.clone(),
            request_id: self.meta.request_id.clone(),
        }
    }

    /// Records an event of `op` (outside any write).
    async fn record(
        &self,
        op: Operation,
        outcome: Outcome,
        object: Option<&ObjectRef>,
        tree: Option<&UnitTree>,
    ) {
        let r = self.stamp(op.name(), tree).record(now(), outcome, object);
        if self.app.audit.record(r).await.is_err() {
            tracing::error!(operation = op.name(), "audit queue full: a refusal went unrecorded");
        }
    }

    /// The policy's answer for `op`, with the records it reaches now; a refusal is recorded and returned as the
    /// error the caller sees.
    pub async fn grant(&self, op: Operation) -> Result<Grant, ApiError> {
        if self.meta.expires_at.is_some_and(|t| t < now()) {
            self.record(op, Outcome::Unauthenticated, None, None).await;
            return Err(ApiError::Unauthenticated);
        }
        let access = policy::access(op, self.who());
        // Public operations reach no records by scope, so they need no unit tree (and no database read for it).
        let tree = if access == Access::Public { Arc::default() } else { self.app.units().await? };
        let now = now();
        let scope = match (access, self.caller) {
            (Access::No, Caller::Anonymous) => {
                self.record(op, Outcome::Unauthenticated, None, None).await;
                return Err(ApiError::Unauthenticated);
            }
            (Access::No, c) => {
                self.record(op, Outcome::Forbidden, None, Some(&tree)).await;
                return Err(ApiError::Forbidden(c.role().map_or("anonymous", |r| r.as_str())));
            }
            (Access::Public, _) => ReadScope::Nothing,
            (Access::Own, Caller::Citizen { sub }) => ReadScope::Applicant(self.app.vault.hash(sub)),
            (Access::Scope, Caller::Staff { unit, .. }) => staff_scope(&tree, unit, now),
            // The table never gives a scope to a citizen or their own records to staff (a unit test checks it).
            _ => ReadScope::Nothing,
        };
        Ok(Grant { access, scope, now, tree })
    }

    /// Records that `op` found nothing where an object exists outside the caller's records (the caller is told
    /// only that nothing was found). The event is filed under the object's unit, so that those responsible for
    /// the object see it, and it never tells the caller's own administrators that the object exists.
    async fn missed(&self, op: Operation, kind: ObjectKind, code: &str, g: &Grant) -> Result<(), ApiError> {
        if let Some(unit) = crate::db::read::owner_unit(&self.app.db, kind, code).await?
            && !self.reaches(kind, code, g).await?
        {
            let object = ObjectRef { kind, code: code.to_owned(), unit_id: Some(unit) };
            self.record(op, Outcome::OutOfScope, Some(&object), Some(&g.tree)).await;
        }
        Ok(())
    }

    /// Whether the caller's records hold the dossier, feedback or receipt `code` after all (an operation may have
    /// failed on something else, which is then no refusal of this object).
    async fn reaches(&self, kind: ObjectKind, code: &str, g: &Grant) -> Result<bool, ApiError> {
        use crate::db::read;
        let db = &self.app.db;
        Ok(match kind {
            ObjectKind::Dossier => read::dossier(db, &g.scope, &code.into()).await?.is_some(),
            ObjectKind::Feedback => read::feedback(db, &g.scope, code).await?.is_some(),
            ObjectKind::Receipt => match code.rsplit_once('/').map(|(s, n)| (s, n.parse::<i64>())) {
                Some((series, Ok(number))) => read::receipt(db, &g.scope, series, number).await?.is_some(),
                _ => false,
            },
            ObjectKind::Unit => false,
        })
    }

    /// Records that a unit named by a filter lies outside the caller's scope (the list comes back empty).
    async fn unit_outside(&self, op: Operation, code: &str, g: &Grant) {
        let object = ObjectRef {
            kind: ObjectKind::Unit,
            code: code.to_owned(),
            unit_id: g.tree.get(code).map(|u| u.id),
        };
        self.record(op, Outcome::OutOfScope, Some(&object), Some(&g.tree)).await;
    }

    /// Records that the personal-data `fields` of `object` are returned to the caller (nothing when there are
    /// none). Called, before the values leave, by every field of the schema that returns personal data, whatever
    /// path reached it.
    pub async fn reveal(
        &self,
        op: Operation,
        object: &ObjectRef,
        fields: &[PersonalField],
    ) -> Result<(), ApiError> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut r = self.stamp(op.name(), None).record(now(), Outcome::Ok, Some(object));
        r.fields = fields.iter().copied().collect();
        // A read leaves only once the audit writer accepted its event (appended within about 200 ms); a full queue
        // (the database far behind) fails the field instead.
        self.app.audit.record(r).await?;
        Ok(())
    }

    /// Runs one write of `op` with the caller's records, its audit stamp and the clock. When the write finds no
    /// `miss` object among the caller's records but it exists, the refusal is recorded.
    async fn write<T>(
        &self,
        op: Operation,
        miss: Option<(ObjectKind, &str)>,
        run: impl AsyncFnOnce(&Writer<'_>, &Grant) -> Result<T, WriteError>,
    ) -> Result<T, ApiError> {
        let g = self.grant(op).await?;
        let stamp = self.stamp(op.name(), Some(&g.tree));
        let w = Writer { db: &self.app.db, scope: &g.scope, stamp: &stamp, now: g.now };
        let outcome = run(&w, &g).await;
        // No instance answers from data older than this write once it is acknowledged. A failed write is no
        // acknowledgement, so it does not wait for the other instances (during an outage that wait would only
        // delay the error); this instance forgets what it remembers in case the failure came after a commit.
        if outcome.is_ok() {
            crate::db::freshness::acknowledge_writes(&self.app.db, Some(&self.app.freshness)).await;
        } else {
            self.app.freshness.wrote();
        }
        match outcome {
            Err(WriteError::NotFound) => {
                if let Some((kind, code)) = miss {
                    self.missed(op, kind, code, &g).await?;
                }
                Err(ApiError::NotFound)
            }
            other => Ok(other?),
        }
    }

    /// The scope of a filter's unit within the caller's scope: `None` without a filter; an empty scope (recorded)
    /// for a unit the staff caller's scope does not hold.
    async fn filter_units(
        &self,
        op: Operation,
        unit_code: Option<&str>,
        g: &Grant,
    ) -> Option<crate::domain::scope::Scope> {
        let code = unit_code?;
        if !self.unit_in_reach(op, code, g).await {
            return Some(crate::domain::scope::Scope { ids: Default::default(), whole_tree: false });
        }
        Some(g.tree.scope_at(code, g.now))
    }

    /// Whether the caller may name unit `code`: it exists and, for staff, lies in their scope. Staff naming an
    /// existing unit outside it are recorded as refused; an unknown code is only a miss.
    async fn unit_in_reach(&self, op: Operation, code: &str, g: &Grant) -> bool {
        let Some(unit) = g.tree.get(code) else { return false };
        match &g.scope {
            ReadScope::Units(mine, _) if !mine.contains(unit.id) => {
                self.unit_outside(op, code, g).await;
                false
            }
            _ => true,
        }
    }
}

/// The records of a staff token's unit at `t`: its scope and, for a ministry, the dossiers of the procedures it
/// announces.
pub fn staff_scope(tree: &UnitTree, unit: &str, t: Micros) -> ReadScope {
    let ministry = tree.get(unit).is_some_and(|u| u.level == UnitLevel::Ministry);
    ReadScope::Units(
        tree.scope_of(unit, t).scope.clone(),
        if ministry { Announcer::Ministry } else { Announcer::OwnUnitsOnly },
    )
}

/// Records a refused token (HTTP 401, or a WebSocket closed at `connection_init`): who cannot be known, so the
/// event holds the reason and where the request came from.
pub async fn refused_token(app: &App, meta: &RequestMeta, reason: &str) {
    let caller = Caller::Anonymous;
    let mut r = Service::new(app, &caller, meta).stamp("authenticate", None).record(
        now(),
        Outcome::Unauthenticated,
        None,
    );
    r.detail = Some(reason.to_owned());
    if app.audit.record(r).await.is_err() {
        tracing::error!("audit queue full: a refused token went unrecorded");
    }
}
