//! The interchange enumerations as GraphQL enums, with their names kept.
#![allow(missing_docs)]

use async_graphql::Enum;

macro_rules! gql_enum {
    ($(#[$m:meta])* $name:ident => $remote:literal { $($v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
        #[graphql(remote = $remote, rename_items = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($v),+ }
    };
}

gql_enum!(
    /// Administrative level of a unit.
    UnitLevel => "crate::domain::UnitLevel" { National, Ministry, Province, Department, District, Commune }
);
gql_enum!(
    /// Where a procedure is performed.
    ProcedureLevel => "crate::domain::ProcedureLevel" { Ministry, Province, District, Commune }
);
gql_enum!(
    /// How far a procedure can be done online.
    OnlineLevel => "crate::domain::OnlineLevel" { Full, Partial, None }
);
gql_enum!(
    /// Who applies.
    ApplicantKind => "crate::domain::ApplicantKind" { Citizen, Business, Organization }
);
gql_enum!(
    /// How a dossier reached the unit.
    Channel => "crate::domain::Channel" { Direct, Online, Postal }
);
gql_enum!(
    /// Dossier status (national portal codes 1–10).
    DossierStatus => "crate::domain::DossierStatus" {
        Registered, Received, NotAccepted, Processing, SupplementRequested, PaymentRequested, Withdrawn, Stopped,
        Resolved, Returned
    }
);
gql_enum!(
    /// Phí (FEE) or lệ phí (CHARGE).
    ReceiptKind => "crate::domain::ReceiptKind" { Fee, Charge }
);
gql_enum!(
    /// Where a fee was paid.
    PaymentChannel => "crate::domain::PaymentChannel" { Counter, NationalPortal, ProvincialPortal }
);
gql_enum!(
    /// Means of payment.
    PaymentMethod => "crate::domain::PaymentMethod" { Cash, BankTransfer, Card, EWallet }
);
gql_enum!(
    /// Whether a receipt stands.
    ReceiptStatus => "crate::domain::ReceiptStatus" { Issued, Cancelled }
);
gql_enum!(
    /// Kind of feedback; COMPLAINT and RECOMMENDATION are PAKN.
    FeedbackKind => "crate::domain::FeedbackKind" { Complaint, Recommendation, Rating, Question }
);
gql_enum!(
    /// How feedback reached the unit.
    FeedbackChannel => "crate::domain::FeedbackChannel" { Hotline, Portal, Email, Kiosk, Sms, Zalo }
);
gql_enum!(
    /// A citizen's rating.
    Rating => "crate::domain::Rating" { VerySatisfied, Satisfied, Neutral, Unsatisfied, VeryUnsatisfied }
);

/// A caller's role.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::auth::Role", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Citizen,
    Hotline,
    Officer,
    Leader,
    Admin,
}
