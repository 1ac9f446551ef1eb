//! Enumerations of the interchange format. Each keeps its interchange name (`"ONLINE"`) in storage, in JSON
//! Lines and in the GraphQL schema. With the `sea-orm` feature each is also a column type: a stored name that
//! is not one of the enumeration's is an error where the row is read, never a silently dropped row.

use std::fmt;
use std::str::FromStr;

/// A value that is not one of an enumeration's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not one of {expected}")]
pub struct UnknownName {
    pub value: String,
    pub expected: &'static str,
}

macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "sea-orm", derive(sea_orm::DeriveValueType))]
        #[cfg_attr(feature = "sea-orm", sea_orm(value_type = "String"))]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The interchange name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName {
                        value: s.to_owned(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }
    };
}

names!(
    /// What a caller may do: a citizen, or staff of a unit (its hotline, officers, leaders, administrators).
    /// Tokens, the schema, the policy table and the audit trail all use these names.
    Role { Citizen = "CITIZEN", Hotline = "HOTLINE", Officer = "OFFICER", Leader = "LEADER", Admin = "ADMIN" }
);

names!(
    /// Administrative level of a unit.
    UnitLevel {
        National = "NATIONAL",
        Ministry = "MINISTRY",
        Province = "PROVINCE",
        Department = "DEPARTMENT",
        District = "DISTRICT",
        Commune = "COMMUNE",
    }
);

names!(
    /// Where a procedure is performed.
    ProcedureLevel { Ministry = "MINISTRY", Province = "PROVINCE", District = "DISTRICT", Commune = "COMMUNE" }
);

names!(
    /// How far a procedure can be done online.
    OnlineLevel { Full = "FULL", Partial = "PARTIAL", None = "NONE" }
);

names!(
    /// Who may apply.
    ApplicantKind { Citizen = "CITIZEN", Business = "BUSINESS", Organization = "ORGANIZATION" }
);

names!(
    /// Whether a procedure is in force.
    ProcedureStatus { Published = "PUBLISHED", Abolished = "ABOLISHED" }
);

names!(
    /// The parts of a procedure's public content.
    ContentPart {
        Name = "name",
        Sequence = "sequence",
        Method = "method",
        Components = "components",
        TimeLimit = "time_limit",
        Applicants = "applicants",
        Agency = "agency",
    }
);

names!(
    /// How a dossier reached the unit.
    Channel { Direct = "DIRECT", Online = "ONLINE", Postal = "POSTAL" }
);

names!(
    /// Dossier status, numbered as the national portal (DVCQG) numbers them.
    DossierStatus {
        Registered = "REGISTERED",
        Received = "RECEIVED",
        NotAccepted = "NOT_ACCEPTED",
        Processing = "PROCESSING",
        SupplementRequested = "SUPPLEMENT_REQUESTED",
        PaymentRequested = "PAYMENT_REQUESTED",
        Withdrawn = "WITHDRAWN",
        Stopped = "STOPPED",
        Resolved = "RESOLVED",
        Returned = "RETURNED",
    }
);

impl DossierStatus {
    /// The DVCQG status code (1 to 10).
    pub fn code(self) -> i32 {
        match self {
            DossierStatus::Registered => 1,
            DossierStatus::Received => 2,
            DossierStatus::NotAccepted => 3,
            DossierStatus::Processing => 4,
            DossierStatus::SupplementRequested => 5,
            DossierStatus::PaymentRequested => 6,
            DossierStatus::Withdrawn => 7,
            DossierStatus::Stopped => 8,
            DossierStatus::Resolved => 9,
            DossierStatus::Returned => 10,
        }
    }
}

names!(
    /// Kind of an e-receipt: phí (fee) or lệ phí (charge).
    ReceiptKind { Fee = "FEE", Charge = "CHARGE" }
);

names!(
    /// Where a fee was paid.
    PaymentChannel { Counter = "COUNTER", NationalPortal = "NATIONAL_PORTAL", ProvincialPortal = "PROVINCIAL_PORTAL" }
);

impl PaymentChannel {
    /// Whether the payment was made online (a portal).
    pub fn is_online(self) -> bool {
        matches!(self, PaymentChannel::NationalPortal | PaymentChannel::ProvincialPortal)
    }
}

names!(
    /// Means of payment.
    PaymentMethod { Cash = "CASH", BankTransfer = "BANK_TRANSFER", Card = "CARD", EWallet = "E_WALLET" }
);

names!(
    /// Whether a receipt stands.
    ReceiptStatus { Issued = "ISSUED", Cancelled = "CANCELLED" }
);

names!(
    /// Kind of feedback. COMPLAINT and RECOMMENDATION are PAKN (phản ánh kiến nghị).
    FeedbackKind { Complaint = "COMPLAINT", Recommendation = "RECOMMENDATION", Rating = "RATING", Question = "QUESTION" }
);

impl FeedbackKind {
    /// Complaints and recommendations carry a due date and count in the PAKN metrics.
    pub fn is_pakn(self) -> bool {
        matches!(self, FeedbackKind::Complaint | FeedbackKind::Recommendation)
    }
}

names!(
    /// How feedback reached the unit.
    FeedbackChannel {
        Hotline = "HOTLINE",
        Portal = "PORTAL",
        Email = "EMAIL",
        Kiosk = "KIOSK",
        Sms = "SMS",
        Zalo = "ZALO",
    }
);

names!(
    /// A citizen's rating.
    Rating {
        VerySatisfied = "VERY_SATISFIED",
        Satisfied = "SATISFIED",
        Neutral = "NEUTRAL",
        Unsatisfied = "UNSATISFIED",
        VeryUnsatisfied = "VERY_UNSATISFIED",
    }
);

impl Rating {
    /// Whether the rating counts as negative feedback on a dossier.
    pub fn is_negative(self) -> bool {
        matches!(self, Rating::Unsatisfied | Rating::VeryUnsatisfied)
    }
}

/// A list of names stored as one column, comma-separated (`"CITIZEN,BUSINESS"`).
macro_rules! name_list {
    ($(#[$meta:meta])* $list:ident of $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "sea-orm", derive(sea_orm::DeriveValueType))]
        #[cfg_attr(feature = "sea-orm", sea_orm(value_type = "String"))]
        pub struct $list(pub Vec<$name>);

        impl fmt::Display for $list {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for (i, item) in self.0.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(item.as_str())?;
                }
                Ok(())
            }
        }

        impl FromStr for $list {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.split(',').filter(|p| !p.is_empty()).map(str::parse).collect::<Result<_, _>>().map($list)
            }
        }

        impl From<Vec<$name>> for $list {
            fn from(items: Vec<$name>) -> Self {
                $list(items)
            }
        }
    };
}

name_list!(
    /// Who may apply for a procedure.
    ApplicantKinds of ApplicantKind
);

name_list!(
    /// The parts of a procedure's public content that were published.
    ContentParts of ContentPart
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_through_their_stored_text() {
        let kinds = ApplicantKinds(vec![ApplicantKind::Citizen, ApplicantKind::Business]);
        assert_eq!(kinds.to_string(), "CITIZEN,BUSINESS");
        assert_eq!("CITIZEN,BUSINESS".parse::<ApplicantKinds>(), Ok(kinds));
        assert_eq!("".parse::<ContentParts>(), Ok(ContentParts::default()));
        assert_eq!("CITIZEN,ALIEN".parse::<ApplicantKinds>().map_err(|e| e.value), Err("ALIEN".to_owned()));
    }
}
