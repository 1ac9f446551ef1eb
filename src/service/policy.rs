//! The access policy as data: one table of operations by caller, and one of the fields that carry personal data.
//! Every access decision of the service layer is looked up here; the README shows the same table (a test
//! compares them), and a test walks every operation and personal field of the schema against it, so that an
//! operation or a field without an entry fails.

use crate::auth::{Caller, Role};

/// Who is calling, as the policy tells callers apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Who {
    Anonymous,
    Citizen,
    Hotline,
    Officer,
    Leader,
    Admin,
}

impl Who {
    /// Every kind of caller, in the order of a rule's columns.
    pub const ALL: [Who; 6] =
        [Who::Anonymous, Who::Citizen, Who::Hotline, Who::Officer, Who::Leader, Who::Admin];

    pub fn of(caller: &Caller) -> Who {
        match caller.role() {
            None => Who::Anonymous,
            Some(Role::Citizen) => Who::Citizen,
            Some(Role::Hotline) => Who::Hotline,
            Some(Role::Officer) => Who::Officer,
            Some(Role::Leader) => Who::Leader,
            Some(Role::Admin) => Who::Admin,
        }
    }

    /// The column heading in the README.
    pub fn heading(self) -> &'static str {
        match self {
            Who::Anonymous => "no token",
            Who::Citizen => "CITIZEN",
            Who::Hotline => "HOTLINE",
            Who::Officer => "OFFICER",
            Who::Leader => "LEADER",
            Who::Admin => "ADMIN",
        }
    }
}

/// What an operation lets a caller reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Refused: anonymous callers are asked to authenticate, roles are forbidden.
    No,
    /// Everyone, for data without anything personal (public by law, or reference data).
    Public,
    /// A citizen's own records: the dossiers filed under their identity number, and what hangs on them.
    Own,
    /// The records of the staff token's unit scope at the instant of the request: the unit, the units below it,
    /// the units merged into it by then and, for a ministry, the dossiers of the procedures it announces.
    Scope,
}

impl Access {
    fn cell(self) -> &'static str {
        match self {
            Access::No => "–",
            Access::Public => "public",
            Access::Own => "own",
            Access::Scope => "scope",
        }
    }
}

/// What of an operation goes into the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audit {
    /// Nothing personal passes: only refusals are recorded.
    Refusals,
    /// Every personal-data field returned, with the object it belongs to (and refusals).
    Reads,
    /// Every accepted write, in the write's own transaction (and the personal fields it returns, and refusals).
    Writes,
    /// Every call, with what it asked (and refusals): a query of the audit trail can look a person up.
    Queries,
}

impl Audit {
    fn cell(self) -> &'static str {
        match self {
            Audit::Refusals => "refusals",
            Audit::Reads => "reads",
            Audit::Writes => "writes",
            Audit::Queries => "every call",
        }
    }
}

/// The kind of GraphQL root field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Query,
    Mutation,
    Subscription,
}

macro_rules! operations {
    ($($(#[$m:meta])* $variant:ident = $name:literal, $root:ident;)+) => {
        /// Every operation of the schema: the root fields of queries, mutations and subscriptions.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($(#[$m])* $variant),+
        }

        impl Operation {
            pub const ALL: &'static [Operation] = &[$(Operation::$variant),+];

            /// The root field's name in the schema (and in the audit trail).
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$variant => $name),+
                }
            }

            pub fn root(self) -> Root {
                match self {
                    $(Operation::$variant => Root::$root),+
                }
            }
        }
    };
}

operations! {
    Viewer = "viewer", Query;
    Procedures = "procedures", Query;
    Procedure = "procedure", Query;
    Sectors = "sectors", Query;
    Units = "units", Query;
    Unit = "unit", Query;
    DossierStatus = "dossierStatus", Query;
    Dossier = "dossier", Query;
    Dossiers = "dossiers", Query;
    Receipts = "receipts", Query;
    Receipt = "receipt", Query;
    Feedbacks = "feedbacks", Query;
    Feedback = "feedback", Query;
    Indicators = "indicators", Query;
    Ranking = "ranking", Query;
    IndicatorSeries = "indicatorSeries", Query;
    IndicatorBreakdown = "indicatorBreakdown", Query;
    IndicatorDossiers = "indicatorDossiers", Query;
    IndicatorProcedures = "indicatorProcedures", Query;
    IndicatorCommunes = "indicatorCommunes", Query;
    IndicatorFeedback = "indicatorFeedback", Query;
    AuditEvents = "auditEvents", Query;
    ReceiveDossier = "receiveDossier", Mutation;
    ChangeDossierStatus = "changeDossierStatus", Mutation;
    RequestSupplement = "requestSupplement", Mutation;
    AnswerSupplement = "answerSupplement", Mutation;
    IssueApology = "issueApology", Mutation;
    IssueReceipt = "issueReceipt", Mutation;
    CancelReceipt = "cancelReceipt", Mutation;
    RecordFeedback = "recordFeedback", Mutation;
    AnswerFeedback = "answerFeedback", Mutation;
    DossierStatusChanged = "dossierStatusChanged", Subscription;
    IndicatorReportChanged = "indicatorReportChanged", Subscription;
    DossierChanged = "dossierChanged", Subscription;
}

/// One row of the table: what each kind of caller may do with an operation, and what of it is audited.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub op: Operation,
    /// By [`Who::ALL`]: anonymous, citizen, hotline, officer, leader, admin.
    pub access: [Access; 6],
    pub audit: Audit,
}

use Access::{No, Own, Public, Scope};

const PUBLIC: [Access; 6] = [Public; 6];
/// Reading records: citizens their own, every staff role its scope.
const READERS: [Access; 6] = [No, Own, Scope, Scope, Scope, Scope];
/// Dossier and receipt writes at the desk.
const OFFICERS: [Access; 6] = [No, No, No, Scope, No, Scope];
/// The records behind the indicators, for dashboards.
const DASHBOARDS: [Access; 6] = [No, No, No, No, Scope, Scope];

const fn rule(op: Operation, access: [Access; 6], audit: Audit) -> Rule {
    Rule { op, access, audit }
}

/// The role-by-operation matrix.
pub const RULES: &[Rule] = &[
    rule(Operation::Viewer, PUBLIC, Audit::Refusals),
    rule(Operation::Procedures, PUBLIC, Audit::Refusals),
    rule(Operation::Procedure, PUBLIC, Audit::Refusals),
    rule(Operation::Sectors, PUBLIC, Audit::Refusals),
    rule(Operation::Units, PUBLIC, Audit::Refusals),
    rule(Operation::Unit, PUBLIC, Audit::Refusals),
    rule(Operation::DossierStatus, PUBLIC, Audit::Refusals),
    rule(Operation::Indicators, PUBLIC, Audit::Refusals),
    rule(Operation::Ranking, PUBLIC, Audit::Refusals),
    rule(Operation::IndicatorSeries, PUBLIC, Audit::Refusals),
    rule(Operation::IndicatorBreakdown, PUBLIC, Audit::Refusals),
    rule(Operation::Dossier, READERS, Audit::Reads),
    rule(Operation::Dossiers, READERS, Audit::Reads),
    rule(Operation::Receipt, READERS, Audit::Reads),
    rule(Operation::Receipts, READERS, Audit::Reads),
    rule(Operation::Feedback, READERS, Audit::Reads),
    rule(Operation::Feedbacks, READERS, Audit::Reads),
    rule(Operation::IndicatorDossiers, DASHBOARDS, Audit::Reads),
    rule(Operation::IndicatorFeedback, DASHBOARDS, Audit::Reads),
    rule(Operation::IndicatorProcedures, DASHBOARDS, Audit::Refusals),
    rule(Operation::IndicatorCommunes, DASHBOARDS, Audit::Refusals),
    rule(Operation::AuditEvents, [No, No, No, No, No, Scope], Audit::Queries),
    rule(Operation::ReceiveDossier, OFFICERS, Audit::Writes),
    rule(Operation::ChangeDossierStatus, OFFICERS, Audit::Writes),
    rule(Operation::RequestSupplement, OFFICERS, Audit::Writes),
    rule(Operation::AnswerSupplement, OFFICERS, Audit::Writes),
    rule(Operation::IssueApology, OFFICERS, Audit::Writes),
    rule(Operation::IssueReceipt, OFFICERS, Audit::Writes),
    rule(Operation::CancelReceipt, OFFICERS, Audit::Writes),
    rule(Operation::RecordFeedback, [No, Own, Scope, Scope, No, Scope], Audit::Writes),
    rule(Operation::AnswerFeedback, [No, No, Scope, Scope, No, Scope], Audit::Writes),
    rule(Operation::DossierStatusChanged, PUBLIC, Audit::Refusals),
    rule(Operation::IndicatorReportChanged, PUBLIC, Audit::Refusals),
    rule(Operation::DossierChanged, READERS, Audit::Reads),
];

/// The rule of `op`. Every operation has exactly one (a unit test checks it).
pub fn rule_of(op: Operation) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.op == op)
}

/// What `who` may do with `op`: refused for an operation without a rule.
pub fn access(op: Operation, who: Who) -> Access {
    let column = Who::ALL.iter().position(|&w| w == who);
    rule_of(op).zip(column).map_or(Access::No, |(r, c)| r.access[c])
}

/// The matrix as the Markdown table of the README.
pub fn markdown() -> String {
    let mut out = String::from("| operation |");
    for w in Who::ALL {
        out.push_str(&format!(" {} |", w.heading()));
    }
    out.push_str(" audited |\n|---|");
    for _ in Who::ALL {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    for r in RULES {
        let kind = match r.op.root() {
            Root::Query => "",
            Root::Mutation => " (mutation)",
            Root::Subscription => " (subscription)",
        };
        out.push_str(&format!("| `{}`{kind} |", r.op.name()));
        for a in r.access {
            out.push_str(&format!(" {} |", a.cell()));
        }
        out.push_str(&format!(" {} |\n", r.audit.cell()));
    }
    out
}

pub use crate::domain::personal::{Form, PersonalField};

/// A field of a type that carries personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Shown with its object, not personal.
    Plain,
    /// Personal: shown in its form, and every read recorded.
    Personal(PersonalField),
}

use Field::{Personal, Plain};
use PersonalField::*;

/// The types reached through operations that are not public, with every field classified. A field missing here
/// fails the policy test.
pub const PERSONAL_TYPES: &[(&str, &[(&str, Field)])] = &[
    (
        "Dossier",
        &[
            ("code", Plain),
            ("version", Plain),
            ("procedure", Plain),
            ("unit", Plain),
            ("channel", Plain),
            ("applicant", Plain),
            ("submittedAt", Plain),
            ("receivedAt", Plain),
            ("dueAt", Plain),
            ("status", Plain),
            ("statusAt", Plain),
            ("overdue", Plain),
            ("events", Plain),
            ("supplements", Plain),
            ("apologies", Plain),
            ("receipts", Plain),
            ("feedback", Plain),
            ("inputsDigitized", Plain),
            ("reusedData", Plain),
            ("fromCitizenStorage", Plain),
            ("resultElectronic", Plain),
            ("resultToCitizenStorage", Plain),
            ("syncedAt", Plain),
        ],
    ),
    (
        "Applicant",
        &[
            ("kind", Plain),
            ("name", Personal(ApplicantName)),
            ("idNumberMasked", Personal(ApplicantIdNumber)),
            ("phoneMasked", Personal(ApplicantPhone)),
            ("emailMasked", Personal(ApplicantEmail)),
            ("vneidVerified", Plain),
        ],
    ),
    (
        "Receipt",
        &[
            ("series", Plain),
            ("number", Plain),
            ("template", Plain),
            ("version", Plain),
            ("dossierCode", Plain),
            ("payerName", Personal(PayerName)),
            ("payerTaxCode", Personal(PayerTaxCode)),
            ("amount", Plain),
            ("kind", Plain),
            ("paymentChannel", Plain),
            ("method", Plain),
            ("transactionRef", Plain),
            ("issuedAt", Plain),
            ("status", Plain),
            ("cancelledAt", Plain),
            ("cancelReason", Plain),
        ],
    ),
    (
        "Feedback",
        &[
            ("code", Plain),
            ("version", Plain),
            ("kind", Plain),
            ("channel", Plain),
            ("unit", Plain),
            ("dossierCode", Plain),
            ("receivedAt", Plain),
            ("dueAt", Plain),
            ("answeredAt", Plain),
            ("answer", Plain),
            ("rating", Plain),
            ("likes", Plain),
            ("dislikes", Plain),
            ("content", Plain),
            ("recordedBy", Personal(RecordedBy)),
        ],
    ),
    ("DossierEvent", &[("status", Plain), ("at", Plain), ("note", Plain)]),
    ("SupplementRequest", &[("requestedAt", Plain), ("receivedAt", Plain), ("reason", Plain)]),
    ("ApologyLetter", &[("issuedAt", Plain), ("reason", Plain), ("newDueAt", Plain)]),
    (
        "AuditEvent",
        &[
            ("id", Plain),
            ("at", Plain),
            ("actor", Plain),
            ("subject", Plain),
            ("role", Plain),
            ("actorUnitCode", Plain),
            ("operation", Plain),
            ("outcome", Plain),
            ("objectKind", Plain),
            ("objectCode", Plain),
            ("fields", Plain),
            ("clientAddress", Plain),
            ("requestId", Plain),
            ("detail", Plain),
        ],
    ),
];

/// The object types that carry nothing personal: reference data, public indicators, a dossier's public status,
/// and the connection types that only wrap other types.
pub const PUBLIC_TYPES: &[&str] = &[
    "Viewer",
    "Unit",
    "Sector",
    "Procedure",
    "PublicDossierStatus",
    "IndicatorReport",
    "IndicatorGroup",
    "Metric",
    "RankingEntry",
    "BreakdownGroup",
    "BreakdownGroupConnection",
    "BreakdownGroupEdge",
    "PageInfo",
    "DossierConnection",
    "DossierEdge",
    "ReceiptConnection",
    "ReceiptEdge",
    "FeedbackConnection",
    "FeedbackEdge",
    "ProcedureConnection",
    "ProcedureEdge",
    "AuditEventConnection",
    "AuditEventEdge",
];

/// The personal fields of type `ty`, by their schema names.
pub fn personal_fields(ty: &str) -> impl Iterator<Item = (&'static str, PersonalField)> {
    let fields: &'static [(&'static str, Field)] =
        PERSONAL_TYPES.iter().find(|(t, _)| *t == ty).map_or(&[], |(_, f)| *f);
    fields.iter().filter_map(|(name, f)| match f {
        Personal(p) => Some((*name, *p)),
        Plain => None,
    })
}

/// The personal field `field` of type `ty`, if it is one.
pub fn personal(ty: &str, field: &str) -> Option<PersonalField> {
    PERSONAL_TYPES.iter().find(|(t, _)| *t == ty)?.1.iter().find(|(f, _)| *f == field).and_then(|(_, c)| {
        match c {
            Personal(p) => Some(*p),
            Plain => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_exactly_one_rule() {
        for op in Operation::ALL {
            assert_eq!(RULES.iter().filter(|r| r.op == *op).count(), 1, "{op:?}");
        }
        assert_eq!(RULES.len(), Operation::ALL.len());
    }

    #[test]
    fn writes_are_never_public_and_reads_of_personal_data_never_anonymous() {
        for r in RULES {
            if r.audit != Audit::Refusals {
                assert_eq!(r.access[0], Access::No, "{:?}", r.op);
                assert!(!r.access.contains(&Access::Public), "{:?}", r.op);
            }
            if r.op.root() == Root::Mutation {
                assert_eq!(r.audit, Audit::Writes, "{:?}", r.op);
            }
            // Only citizens reach their own records; only staff reach a scope.
            for (who, a) in Who::ALL.iter().zip(r.access) {
                assert!(a != Access::Own || *who == Who::Citizen, "{:?} {who:?}", r.op);
                assert!(
                    a != Access::Scope || !matches!(who, Who::Anonymous | Who::Citizen),
                    "{:?} {who:?}",
                    r.op
                );
            }
        }
        assert_eq!(personal("Applicant", "idNumberMasked"), Some(PersonalField::ApplicantIdNumber));
        assert_eq!(personal("Dossier", "code"), None);
    }
}
